import CSodium

/// Every call into libsodium goes through this file.
enum Sodium {
  /// Runs `sodium_init` once per process; libsodium allows repeated calls.
  static let ready: Bool = sodium_init() >= 0

  static let saltLength = Int(crypto_pwhash_SALTBYTES)
  static let keyLength = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
  static let nonceLength = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
  static let tagLength = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)

  /// `sodium_memzero`: a wipe the compiler may not remove.
  static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    sodium_memzero(base, buffer.count)
  }

  /// `sodium_mlock`: keeps the pages out of swap and core dumps where the
  /// system allows it. Failure (a low `RLIMIT_MEMLOCK`) is not an error.
  static func lockMemory(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    _ = sodium_mlock(base, buffer.count)
  }

  /// `sodium_munlock`, which also wipes.
  static func unlockMemory(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    _ = sodium_munlock(base, buffer.count)
  }

  /// `sodium_memcmp`: constant-time comparison of equal-length buffers.
  static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard let pa = a.baseAddress, let pb = b.baseAddress else { return a.count == 0 }
    return sodium_memcmp(pa, pb, a.count) == 0
  }

  /// `randombytes_buf`.
  static func randomBytes(_ count: Int) -> [UInt8] {
    precondition(ready)
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) }
    return bytes
  }

  /// `crypto_pwhash` with Argon2id 1.3; nil when libsodium refuses the
  /// limits or runs out of memory.
  static func argon2id(
    passphrase: SecretBytes, salt: [UInt8], opsLimit: UInt64, memLimit: UInt64
  ) -> SecretBytes? {
    precondition(ready && salt.count == saltLength)
    let key = SecretBytes(count: keyLength)
    let rc = key.withUnsafeMutableBytes { out in
      passphrase.withUnsafeBytes { pass in
        salt.withUnsafeBytes { saltBytes in
          crypto_pwhash(
            out.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(keyLength),
            pass.baseAddress!.assumingMemoryBound(to: CChar.self),
            UInt64(pass.count),
            saltBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
            opsLimit, Int(memLimit), crypto_pwhash_ALG_ARGON2ID13)
        }
      }
    }
    return rc == 0 ? key : nil
  }

  /// `crypto_aead_xchacha20poly1305_ietf_encrypt`: ciphertext followed by tag.
  static func seal(
    _ plaintext: SecretBytes, additionalData: [UInt8], nonce: [UInt8], key: SecretBytes
  ) -> [UInt8] {
    precondition(ready && nonce.count == nonceLength && key.count == keyLength)
    var output = [UInt8](repeating: 0, count: plaintext.count + tagLength)
    var written: UInt64 = 0
    let rc = output.withUnsafeMutableBytes { out in
      plaintext.withUnsafeBytes { message in
        additionalData.withUnsafeBytes { ad in
          nonce.withUnsafeBytes { npub in
            key.withUnsafeBytes { k in
              crypto_aead_xchacha20poly1305_ietf_encrypt(
                out.baseAddress!.assumingMemoryBound(to: UInt8.self), &written,
                message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                UInt64(message.count),
                ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count),
                nil, npub.baseAddress!.assumingMemoryBound(to: UInt8.self),
                k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
          }
        }
      }
    }
    precondition(rc == 0 && Int(written) == output.count)
    return output
  }

  /// `crypto_aead_xchacha20poly1305_ietf_decrypt`; nil when the tag does
  /// not verify (wrong key, or ciphertext or additional data changed).
  static func open(
    _ ciphertext: ArraySlice<UInt8>, additionalData: ArraySlice<UInt8>, nonce: ArraySlice<UInt8>,
    key: SecretBytes
  ) -> SecretBytes? {
    precondition(ready && nonce.count == nonceLength && key.count == keyLength)
    guard ciphertext.count >= tagLength else { return nil }
    let plaintext = SecretBytes(count: ciphertext.count - tagLength)
    var written: UInt64 = 0
    let rc = plaintext.withUnsafeMutableBytes { out in
      ciphertext.withUnsafeBytes { c in
        additionalData.withUnsafeBytes { ad in
          nonce.withUnsafeBytes { npub in
            key.withUnsafeBytes { k in
              crypto_aead_xchacha20poly1305_ietf_decrypt(
                out.baseAddress?.assumingMemoryBound(to: UInt8.self), &written, nil,
                c.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(c.count),
                ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count),
                npub.baseAddress!.assumingMemoryBound(to: UInt8.self),
                k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
          }
        }
      }
    }
    return rc == 0 ? plaintext : nil
  }
}

extension Sodium {
  /// `crypto_generichash` (BLAKE2b) with an optional key.
  static func blake2b(_ message: [UInt8], key: SecretBytes?, length: Int) -> [UInt8] {
    precondition(ready)
    var output = [UInt8](repeating: 0, count: length)
    output.withUnsafeMutableBytes { out in
      message.withUnsafeBytes { m in
        let hash = { (k: UnsafeRawBufferPointer?) -> Int32 in
          crypto_generichash(
            out.baseAddress!.assumingMemoryBound(to: UInt8.self), length,
            m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count),
            k?.baseAddress?.assumingMemoryBound(to: UInt8.self), k?.count ?? 0)
        }
        let rc = key.map { $0.withUnsafeBytes { hash($0) } } ?? hash(nil)
        precondition(rc == 0)
      }
    }
    return output
  }

  /// `crypto_pwhash_OPSLIMIT_*` and `crypto_pwhash_MEMLIMIT_*`, by name.
  static let interactiveLimits = (
    ops: UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE), mem: UInt64(crypto_pwhash_MEMLIMIT_INTERACTIVE)
  )
  static let moderateLimits = (
    ops: UInt64(crypto_pwhash_OPSLIMIT_MODERATE), mem: UInt64(crypto_pwhash_MEMLIMIT_MODERATE)
  )
  static let sensitiveLimits = (
    ops: UInt64(crypto_pwhash_OPSLIMIT_SENSITIVE), mem: UInt64(crypto_pwhash_MEMLIMIT_SENSITIVE)
  )
}

extension Sodium {
  /// `crypto_generichash` (BLAKE2b, unkeyed) over bytes that must not be copied.
  static func blake2b(raw message: UnsafeRawBufferPointer, length: Int) -> [UInt8] {
    precondition(ready)
    var output = [UInt8](repeating: 0, count: length)
    let rc = output.withUnsafeMutableBytes { out in
      crypto_generichash(
        out.baseAddress!.assumingMemoryBound(to: UInt8.self), length,
        message.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(message.count), nil, 0)
    }
    precondition(rc == 0)
    return output
  }
}
