/// How hard the encrypted file's passphrase is to guess: the Argon2id
/// work factor. Each step costs about four to eight times the one before.
public enum KeyDerivationStrength: String, Sendable, CaseIterable {
  /// 2 passes over 64 MiB; about 0.1 s here. The default.
  case interactive
  /// 3 passes over 256 MiB; about 0.5 s.
  case moderate
  /// 4 passes over 1 GiB; several seconds.
  case sensitive

  var limits: (ops: UInt64, mem: UInt64) {
    switch self {
    case .interactive: return Sodium.interactiveLimits
    case .moderate: return Sodium.moderateLimits
    case .sensitive: return Sodium.sensitiveLimits
    }
  }
}

/// The encrypted secrets file, version 1: a 96-byte header authenticated
/// as additional data, then the sealed entries. `docs/encrypted-file.md`
/// gives the layout byte by byte; this type is its only reader and writer.
struct SecretsFileFormat {
  static let magic: [UInt8] = Array("CWMPSEC\n".utf8)
  static let version: UInt16 = 1
  static let kdfArgon2id13: UInt8 = 1
  static let cipherXChaCha20Poly1305: UInt8 = 1
  static let headerLength = 96
  static let checkLength = 16
  static let checksumLength = 16
  static let keyCheckMessage = Array("cwm-profile key check".utf8)

  /// The largest work factors a file may ask for; anything above is
  /// treated as damage rather than spending minutes or gigabytes on it.
  static let maxOps: UInt32 = 32
  static let maxMemKiB: UInt32 = 4 * 1024 * 1024

  /// The parts of a header.
  struct Header: Equatable {
    var opsLimit: UInt32
    var memLimitKiB: UInt32
    var generation: UInt32
    var salt: [UInt8]
    var nonce: [UInt8]
    var keyCheck: [UInt8]

    /// The header's 96 bytes, checksum included.
    func encoded() -> [UInt8] {
      var bytes = SecretsFileFormat.magic
      bytes += bigEndian(SecretsFileFormat.version)
      bytes.append(SecretsFileFormat.kdfArgon2id13)
      bytes.append(SecretsFileFormat.cipherXChaCha20Poly1305)
      bytes += bigEndian(opsLimit)
      bytes += bigEndian(memLimitKiB)
      bytes += bigEndian(generation)
      bytes += salt
      bytes += nonce
      bytes += keyCheck
      bytes += Sodium.blake2b(bytes, key: nil, length: SecretsFileFormat.checksumLength)
      precondition(bytes.count == SecretsFileFormat.headerLength)
      return bytes
    }
  }

  /// Why a file could not be opened, before it becomes a store error.
  enum Problem: Error, Equatable {
    case notOurs
    case truncated
    case unsupportedVersion(Int)
    case damagedHeader(String)
    case wrongPassphrase
    case damagedBody
    case damagedEntries
  }

  /// Reads and checks the header without the passphrase.
  static func parseHeader(_ file: [UInt8]) throws(Problem) -> Header {
    guard file.count >= magic.count + 2 else {
      throw file.starts(with: magic.prefix(file.count)) && !file.isEmpty ? .truncated : .notOurs
    }
    guard file.starts(with: magic) else { throw .notOurs }
    let version = Int(readUInt16(file, 8))
    guard version == Int(Self.version) else { throw .unsupportedVersion(version) }
    guard file.count >= headerLength + Sodium.tagLength else { throw .truncated }
    let checksum = Sodium.blake2b(
      Array(file[0..<(headerLength - checksumLength)]), key: nil, length: checksumLength)
    guard checksum == Array(file[(headerLength - checksumLength)..<headerLength]) else {
      throw .damagedHeader("header checksum does not match")
    }
    guard file[10] == kdfArgon2id13, file[11] == cipherXChaCha20Poly1305 else {
      throw .damagedHeader("unknown key derivation or cipher")
    }
    let header = Header(
      opsLimit: readUInt32(file, 12), memLimitKiB: readUInt32(file, 16),
      generation: readUInt32(file, 20), salt: Array(file[24..<40]), nonce: Array(file[40..<64]),
      keyCheck: Array(file[64..<80]))
    guard (1...maxOps).contains(header.opsLimit), (8...maxMemKiB).contains(header.memLimitKiB)
    else { throw .damagedHeader("key derivation parameters out of range") }
    return header
  }

  /// Derives the file key from the passphrase and the header's parameters.
  static func deriveKey(_ passphrase: SecretBytes, header: Header) -> SecretBytes? {
    Sodium.argon2id(
      passphrase: passphrase, salt: header.salt, opsLimit: UInt64(header.opsLimit),
      memLimit: UInt64(header.memLimitKiB) * 1024)
  }

  /// The value stored in the header that tells a wrong passphrase from
  /// a damaged body: a keyed BLAKE2b of a fixed message.
  static func keyCheck(_ key: SecretBytes) -> [UInt8] {
    Sodium.blake2b(keyCheckMessage, key: key, length: checkLength)
  }

  /// Opens a whole file with an already derived key.
  static func open(_ file: [UInt8], header: Header, key: SecretBytes) throws(Problem) -> [String:
    SecretBytes]
  {
    let check = keyCheck(key)
    let matches = check.withUnsafeBytes { a in
      header.keyCheck.withUnsafeBytes { b in Sodium.equal(a, b) }
    }
    guard matches else { throw .wrongPassphrase }
    guard
      let plaintext = Sodium.open(
        file[headerLength...], additionalData: file[0..<headerLength],
        nonce: file[40..<64], key: key)
    else { throw .damagedBody }
    return try decodeEntries(plaintext)
  }

  /// Seals `entries` under `key` with a fresh nonce.
  static func seal(
    _ entries: [String: SecretBytes], key: SecretBytes, salt: [UInt8], opsLimit: UInt32,
    memLimitKiB: UInt32, generation: UInt32
  ) -> [UInt8] {
    let header = Header(
      opsLimit: opsLimit, memLimitKiB: memLimitKiB, generation: generation, salt: salt,
      nonce: Sodium.randomBytes(Sodium.nonceLength), keyCheck: keyCheck(key))
    let headerBytes = header.encoded()
    let plaintext = encodeEntries(entries)
    return headerBytes
      + Sodium.seal(plaintext, additionalData: headerBytes, nonce: header.nonce, key: key)
  }

  /// Entries: a count, then for each (sorted by name) a UTF-8 name and
  /// the value's bytes, each preceded by its length, all big-endian.
  static func encodeEntries(_ entries: [String: SecretBytes]) -> SecretBytes {
    let names = entries.keys.sorted()
    var total = 4
    for name in names { total += 2 + name.utf8.count + 4 + entries[name]!.count }
    let out = SecretBytes(count: total)
    out.withUnsafeMutableBytes { buffer in
      var offset = 0
      func put(_ bytes: [UInt8]) {
        for byte in bytes {
          buffer[offset] = byte
          offset += 1
        }
      }
      put(bigEndian(UInt32(names.count)))
      for name in names {
        let value = entries[name]!
        put(bigEndian(UInt16(name.utf8.count)))
        put(Array(name.utf8))
        put(bigEndian(UInt32(value.count)))
        value.withUnsafeBytes { source in
          UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + source.count)])
            .copyMemory(from: source)
        }
        offset += value.count
      }
    }
    return out
  }

  static func decodeEntries(_ plaintext: SecretBytes) throws(Problem) -> [String: SecretBytes] {
    let decoded: [String: SecretBytes]? = plaintext.withUnsafeBytes { buffer in
      var offset = 0
      func take(_ n: Int) -> UnsafeRawBufferPointer? {
        guard n >= 0, buffer.count - offset >= n else { return nil }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + n)])
      }
      func number(_ width: Int) -> Int? {
        take(width).map { $0.reduce(0) { $0 << 8 | Int($1) } }
      }
      guard let count = number(4) else { return nil }
      var entries: [String: SecretBytes] = [:]
      for _ in 0..<count {
        guard let nameLength = number(2), let nameBytes = take(nameLength),
          let name = String(validating: nameBytes, as: UTF8.self),
          let valueLength = number(4), let value = take(valueLength),
          entries[name] == nil
        else { return nil }
        entries[name] = SecretBytes(value)
      }
      return offset == buffer.count ? entries : nil
    }
    guard let decoded else { throw .damagedEntries }
    return decoded
  }
}

private func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
  withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

private func readUInt16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
  UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
}

private func readUInt32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
  (at..<(at + 4)).reduce(0) { $0 << 8 | UInt32(bytes[$1]) }
}
