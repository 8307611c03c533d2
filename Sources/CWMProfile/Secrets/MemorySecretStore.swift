import Foundation

/// A store that keeps secrets in process memory only: for tests of the
/// logic above the stores, and for programs with their own persistence.
public final class MemorySecretStore: SecretStore, @unchecked Sendable {
  private let lock = NSLock()
  private var items: [SecretKey: (secret: SecretBytes, label: String)] = [:]

  public init() {}

  public var kind: StoreKind { .memory }

  public func read(_ key: SecretKey) throws -> SecretBytes? {
    lock.withLock { items[key]?.secret }
  }

  public func write(_ secret: SecretBytes, for key: SecretKey, label: String) throws {
    let copy = secret.withUnsafeBytes { SecretBytes($0) }
    lock.withLock { items[key] = (copy, label) }
  }

  @discardableResult
  public func delete(_ key: SecretKey) throws -> Bool {
    lock.withLock { items.removeValue(forKey: key) != nil }
  }

  /// The label stored with `key`, for tests.
  public func label(for key: SecretKey) -> String? {
    lock.withLock { items[key]?.label }
  }
}
