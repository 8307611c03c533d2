import CSecret
import Dispatch
import Foundation

/// What `KeyringSecretStore.probe(timeout:)` found.
public enum KeyringStatus: Sendable, Equatable {
  /// The session bus, the Secret Service and an unlocked default
  /// collection are all there.
  case available
  /// The keyring cannot be used now, and why.
  case unavailable(SecretStoreError)

  /// Whether a caller choosing a store automatically may use the encrypted
  /// file instead: only when there is no Secret Service at all. A locked,
  /// failing or slow keyring is an error to report, not a reason to switch.
  public var allowsFileFallback: Bool {
    switch self {
    case .unavailable(.noSessionBus), .unavailable(.noSecretService): return true
    case .available, .unavailable: return false
    }
  }
}

/// Keeps secrets in the Secret Service (the GNOME keyring) through libsecret.
///
/// Items use the schema `net.cwm-profile.Secret` with the flag
/// `SECRET_SCHEMA_DONT_MATCH_NAME` (lookups match on attributes alone, so
/// an item made by `secret-tool store` with the same attributes is found
/// too) and three string attributes:
///
/// - `application`: always `cwm-profile`;
/// - `profile`: the profile name;
/// - `kind`: the `SecretKind` raw value (`private-key`, `password`, `token`).
///
/// `secret-tool search application cwm-profile profile acme` lists a
/// profile's items. New items go into the collection with the alias
/// `default`. Values are UTF-8 text without NUL bytes.
///
/// Each operation first checks the session bus, the service, the default
/// collection and its locked flag, so a locked keyring is reported as
/// locked and never as a missing secret. Nothing here prompts or unlocks.
/// Each operation, checks included, is bounded by `timeout` seconds.
public final class KeyringSecretStore: SecretStore {
  /// The longest any one operation may take, in seconds.
  public let timeout: Double
  private let logger: Logger

  /// - Parameters:
  ///   - timeout: seconds after which an operation gives up with
  ///     `SecretStoreError.keyringTimeout`.
  ///   - logger: receives debug messages, never a secret.
  public init(timeout: Double = 10, logger: Logger = .silent) {
    self.timeout = timeout
    self.logger = logger
  }

  public var kind: StoreKind { .keyring }

  /// Checks that the keyring is usable, as every operation does first:
  /// a session bus, an owner of `org.freedesktop.secrets` (or one the bus
  /// can start), a collection behind the alias `default`, and that it is
  /// unlocked.
  ///
  /// - Parameters:
  ///   - timeout: seconds the whole check may take.
  ///   - logger: receives what was found, at debug level.
  /// - Returns: `.available`, or `.unavailable` with the first problem.
  public static func probe(timeout: Double = 10, logger: Logger = .silent) -> KeyringStatus {
    do {
      try Session.withSession(timeout: timeout, logger: logger) { _ in }
      return .available
    } catch let error as SecretStoreError {
      return .unavailable(error)
    } catch {
      return .unavailable(.keyringFailed(detail: "\(error)"))
    }
  }

  /// Asks the Secret Service to unlock the default collection. On a desktop
  /// this shows the keyring's own password prompt; nothing is typed or
  /// seen here. Calls `secret_service_get_sync`,
  /// `secret_collection_for_alias_sync` and `secret_service_unlock_sync`.
  ///
  /// - Parameter timeout: seconds to wait, for the person to type too.
  /// - Returns: false when the collection was already unlocked.
  /// - Throws: `SecretStoreError.promptDismissed` when the prompt was
  ///   closed or could not be shown, and the collection is still locked.
  @discardableResult
  public static func unlockDefault(timeout: Double, logger: Logger = .silent) throws -> Bool {
    try Session.withSession(timeout: timeout, logger: logger, requireUnlocked: false) { session in
      if (try? session.checkUnlocked()) != nil { return false }
      let cancellable = session.deadline.cancellable
      var error: UnsafeMutablePointer<GError>?
      guard let service = secret_service_get_sync(SECRET_SERVICE_NONE, cancellable, &error)
      else {
        throw session.failure(GLibError.take(error!))
      }
      defer { g_object_unref(service) }
      guard
        let collection = secret_collection_for_alias_sync(
          service, "default", SECRET_COLLECTION_NONE, cancellable, &error)
      else {
        if let error { throw session.failure(GLibError.take(error)) }
        throw SecretStoreError.noDefaultCollection
      }
      defer { g_object_unref(collection) }
      let objects = g_list_append(nil, collection)
      defer { g_list_free(objects) }
      let count = secret_service_unlock_sync(service, objects, cancellable, nil, &error)
      if let error { throw session.failure(GLibError.take(error)) }
      logger.debug("keyring: unlock reported \(count) object(s) unlocked")
      do {
        try session.checkUnlocked()
      } catch SecretStoreError.keyringLocked {
        throw SecretStoreError.promptDismissed
      }
      return true
    }
  }

  /// Reads with `secret_password_lookupv_nonpageable_sync`; the C copy is
  /// released with `secret_password_free`, which wipes it.
  public func read(_ key: SecretKey) throws -> SecretBytes? {
    try perform("read", key) { session in
      let attributes = try Self.attributes(for: key)
      defer { g_hash_table_unref(attributes) }
      var error: UnsafeMutablePointer<GError>?
      let found = secret_password_lookupv_nonpageable_sync(
        Self.schema.pointer, attributes, session.deadline.cancellable, &error)
      if let error { throw session.failure(GLibError.take(error)) }
      guard let found else {
        // A lookup in a locked collection also returns nothing, so make
        // sure it did not become locked after the check.
        try session.checkUnlocked()
        return nil
      }
      defer { secret_password_free(found) }
      return SecretBytes(UnsafeRawBufferPointer(start: found, count: strlen(found)))
    }
  }

  /// Stores with `secret_password_storev_sync` into the default collection,
  /// replacing an item with the same attributes.
  public func write(_ secret: SecretBytes, for key: SecretKey, label: String) throws {
    let text = try Self.nulTerminatedText(secret)
    try perform("write", key) { session in
      let attributes = try Self.attributes(for: key)
      defer { g_hash_table_unref(attributes) }
      var error: UnsafeMutablePointer<GError>?
      let stored = text.withUnsafeBytes { bytes in
        secret_password_storev_sync(
          Self.schema.pointer, attributes, SECRET_COLLECTION_DEFAULT, label,
          bytes.baseAddress!.assumingMemoryBound(to: gchar.self),
          session.deadline.cancellable, &error)
      }
      if let error { throw session.failure(GLibError.take(error)) }
      guard stored != 0 else { throw SecretStoreError.keyringFailed(detail: "store failed") }
    }
  }

  /// Deletes with `secret_password_clearv_sync`.
  @discardableResult
  public func delete(_ key: SecretKey) throws -> Bool {
    try perform("delete", key) { session in
      let attributes = try Self.attributes(for: key)
      defer { g_hash_table_unref(attributes) }
      var error: UnsafeMutablePointer<GError>?
      let cleared = secret_password_clearv_sync(
        Self.schema.pointer, attributes, session.deadline.cancellable, &error)
      if let error { throw session.failure(GLibError.take(error)) }
      if cleared == 0 { try session.checkUnlocked() }
      return cleared != 0
    }
  }

  private func perform<T>(
    _ operation: String, _ key: SecretKey, _ body: (Session) throws -> T
  ) throws -> T {
    let start = DispatchTime.now()
    func elapsed() -> String {
      "\((DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000) ms"
    }
    do {
      let result = try Session.withSession(timeout: timeout, logger: logger, body)
      logger.debug("keyring: \(operation) \(key) done in \(elapsed())")
      return result
    } catch {
      logger.debug("keyring: \(operation) \(key) failed after \(elapsed()): \(error)")
      throw error
    }
  }

  // MARK: - Schema and attributes

  private struct SchemaPointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<SecretSchema>
  }

  private static let attributeNames = ["application", "profile", "kind"]

  /// Built once with `secret_schema_newv` and kept for the process.
  private static let schema: SchemaPointer = {
    let types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, nil)
    defer { g_hash_table_unref(types) }
    for name in attributeNames {
      // The value is the attribute type; SECRET_SCHEMA_ATTRIBUTE_STRING is 0.
      g_hash_table_insert(types, g_strdup(name), nil)
    }
    return SchemaPointer(
      pointer: secret_schema_newv("net.cwm-profile.Secret", SECRET_SCHEMA_DONT_MATCH_NAME, types))
  }()

  /// A `GHashTable` of the item's attributes; the caller unrefs it.
  private static func attributes(for key: SecretKey) throws -> OpaquePointer {
    guard !key.profile.utf8.contains(0) else {
      throw SecretStoreError.keyringFailed(detail: "the profile name contains a NUL character")
    }
    let values = ["cwm-profile", key.profile, key.kind.rawValue]
    let table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free)!
    for (name, value) in zip(attributeNames, values) {
      g_hash_table_insert(table, g_strdup(name), g_strdup(value))
    }
    return table
  }

  /// The secret followed by a NUL, in wiped memory; rejects what libsecret's
  /// text interface cannot carry. `g_utf8_validate` checks the encoding.
  private static func nulTerminatedText(_ secret: SecretBytes) throws -> SecretBytes {
    let text = SecretBytes(count: secret.count + 1)
    try secret.withUnsafeBytes { source in
      guard !source.contains(0) else {
        throw SecretStoreError.keyringFailed(
          detail: "the secret contains a NUL byte; the keyring stores text only")
      }
      if let base = source.baseAddress {
        let valid = g_utf8_validate(
          base.assumingMemoryBound(to: gchar.self), gssize(source.count), nil)
        guard valid != 0 else {
          throw SecretStoreError.keyringFailed(
            detail: "the secret is not valid UTF-8; the keyring stores text only")
        }
      }
      text.withUnsafeMutableBytes {
        UnsafeMutableRawBufferPointer(rebasing: $0[0..<source.count]).copyMemory(from: source)
      }
    }
    return text
  }
}
