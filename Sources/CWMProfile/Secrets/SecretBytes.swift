/// Bytes of a secret (a private key, a password, a token, a passphrase)
/// held in one buffer that is wiped when the value is released.
///
/// Copy secrets into `SecretBytes` as early as possible and out of it as
/// late as possible: a Swift `String` made from a secret is a copy nobody
/// wipes.
public final class SecretBytes: @unchecked Sendable {
  private let storage: UnsafeMutableRawBufferPointer

  /// The number of bytes.
  public var count: Int { length }

  /// Whether the secret holds no bytes.
  public var isEmpty: Bool { length == 0 }

  /// Makes a zero-filled secret of `count` bytes, to be filled in place.
  public init(count: Int) {
    storage = .allocate(byteCount: max(count, 1), alignment: 16)
    storage.initializeMemory(as: UInt8.self, repeating: 0)
    length = count
    Sodium.lockMemory(storage)
  }

  /// Copies `bytes` into a new secret.
  public convenience init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
    self.init(count: bytes.count)
    UnsafeMutableRawBufferPointer(rebasing: storage[0..<bytes.count]).copyBytes(from: bytes)
  }

  /// Copies the UTF-8 form of `string` into a new secret.
  public convenience init(utf8 string: String) {
    self.init(Array(string.utf8))
  }

  private let length: Int

  deinit {
    Sodium.wipe(storage)
    Sodium.unlockMemory(storage)
    storage.deallocate()
  }

  /// Calls `body` with the secret's bytes; the pointer must not escape.
  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try body(UnsafeRawBufferPointer(rebasing: storage[0..<length]))
  }

  /// Calls `body` with the secret's bytes for writing in place.
  public func withUnsafeMutableBytes<R>(
    _ body: (UnsafeMutableRawBufferPointer) throws -> R
  ) rethrows -> R {
    try body(UnsafeMutableRawBufferPointer(rebasing: storage[0..<length]))
  }

  /// A new secret holding this one's bytes followed by `other`'s.
  public func appending(_ other: SecretBytes) -> SecretBytes {
    let joined = SecretBytes(count: count + other.count)
    joined.withUnsafeMutableBytes { out in
      withUnsafeBytes {
        UnsafeMutableRawBufferPointer(rebasing: out[0..<count]).copyMemory(from: $0)
      }
      other.withUnsafeBytes {
        UnsafeMutableRawBufferPointer(rebasing: out[count...]).copyMemory(from: $0)
      }
    }
    return joined
  }

  /// Compares two secrets in constant time for equal lengths.
  public func constantTimeEquals(_ other: SecretBytes) -> Bool {
    guard count == other.count else { return false }
    return withUnsafeBytes { a in other.withUnsafeBytes { b in Sodium.equal(a, b) } }
  }

  /// The secret as a `String`, for the few places (an HTTP header, a
  /// child's environment) that need one. The copy is not wiped.
  public func unsafeStringCopy() -> String {
    withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
  }
}

extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible {
  /// Never the secret itself, so that logging a value by mistake leaks nothing.
  public var description: String { "<secret, \(count) bytes>" }
  public var debugDescription: String { description }
}
