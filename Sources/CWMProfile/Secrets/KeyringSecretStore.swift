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

// MARK: - Deadline

/// A `GCancellable` that a timer cancels once the time is up
/// (`g_cancellable_new`, `g_cancellable_cancel`).
private final class Deadline {
  let cancellable: UnsafeMutablePointer<GCancellable>
  let seconds: Double
  private let end: DispatchTime
  private let timer: DispatchSourceTimer

  private struct Handle: @unchecked Sendable {
    let cancellable: UnsafeMutablePointer<GCancellable>
  }

  init(seconds: Double) {
    self.seconds = seconds
    cancellable = g_cancellable_new()
    end = .now() + seconds
    // The timer holds its own reference, dropped only once it can no
    // longer fire, so it never touches a freed cancellable.
    let handle = Handle(
      cancellable: g_object_ref(cancellable).assumingMemoryBound(to: GCancellable.self))
    timer = DispatchSource.makeTimerSource(queue: .global())
    timer.setEventHandler { g_cancellable_cancel(handle.cancellable) }
    timer.setCancelHandler { g_object_unref(handle.cancellable) }
    timer.schedule(deadline: end)
    timer.resume()
  }

  deinit {
    timer.cancel()
    g_object_unref(cancellable)
  }

  var expired: Bool { g_cancellable_is_cancelled(cancellable) != 0 }

  /// What is left, as a D-Bus call timeout in milliseconds.
  var remainingMilliseconds: Int32 {
    let now = DispatchTime.now().uptimeNanoseconds
    let left = end.uptimeNanoseconds > now ? (end.uptimeNanoseconds - now) / 1_000_000 : 0
    return Int32(clamping: max(left, 1))
  }
}

// MARK: - GError

/// The parts of a `GError` that matter, copied out so it can be freed
/// with `g_error_free` at once. GError messages never hold a secret.
private struct GLibError: Error {
  let domain: GQuark
  let code: Int32
  let message: String
  let remoteName: String?

  /// Copies and frees `error`, stripping the remote D-Bus error prefix
  /// (`g_dbus_error_get_remote_error`, `g_dbus_error_strip_remote_error`).
  static func take(_ error: UnsafeMutablePointer<GError>) -> GLibError {
    defer { g_error_free(error) }
    var remoteName: String?
    if let name = g_dbus_error_get_remote_error(error) {
      remoteName = String(cString: name)
      g_free(name)
      g_dbus_error_strip_remote_error(error)
    }
    return GLibError(
      domain: error.pointee.domain, code: error.pointee.code,
      message: error.pointee.message.map { String(cString: $0) } ?? "unknown error",
      remoteName: remoteName)
  }

  func isDBus(_ codes: GDBusError...) -> Bool {
    domain == g_dbus_error_quark() && codes.contains { Int32($0.rawValue) == code }
  }

  func isIO(_ codes: GIOErrorEnum...) -> Bool {
    domain == g_io_error_quark() && codes.contains { Int32($0.rawValue) == code }
  }

  /// The store error this stands for, when nothing more specific applies.
  func storeError(timeout: Double) -> SecretStoreError {
    if isIO(G_IO_ERROR_CANCELLED, G_IO_ERROR_TIMED_OUT)
      || isDBus(G_DBUS_ERROR_NO_REPLY, G_DBUS_ERROR_TIMEOUT, G_DBUS_ERROR_TIMED_OUT)
    {
      return .keyringTimeout(seconds: timeout)
    }
    if (domain == secret_error_get_quark() && code == Int32(SECRET_ERROR_IS_LOCKED.rawValue))
      || remoteName == "org.freedesktop.Secret.Error.IsLocked"
    {
      return .keyringLocked
    }
    if isDBus(
      G_DBUS_ERROR_SERVICE_UNKNOWN, G_DBUS_ERROR_NAME_HAS_NO_OWNER,
      G_DBUS_ERROR_SPAWN_EXEC_FAILED, G_DBUS_ERROR_SPAWN_FORK_FAILED,
      G_DBUS_ERROR_SPAWN_CHILD_EXITED, G_DBUS_ERROR_SPAWN_CHILD_SIGNALED,
      G_DBUS_ERROR_SPAWN_FAILED, G_DBUS_ERROR_SPAWN_SETUP_FAILED,
      G_DBUS_ERROR_SPAWN_CONFIG_INVALID, G_DBUS_ERROR_SPAWN_SERVICE_INVALID,
      G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND, G_DBUS_ERROR_SPAWN_PERMISSIONS_INVALID,
      G_DBUS_ERROR_SPAWN_FILE_INVALID)
    {
      return .noSecretService(detail: message)
    }
    if isIO(G_IO_ERROR_CLOSED) || isDBus(G_DBUS_ERROR_DISCONNECTED, G_DBUS_ERROR_NO_SERVER) {
      return .noSessionBus(detail: message)
    }
    return .keyringFailed(detail: message)
  }
}

// MARK: - Session

/// One bounded conversation with the Secret Service: the checks every
/// operation starts with, then libsecret calls under the same deadline.
private final class Session {
  static let service = "org.freedesktop.secrets"
  static let servicePath = "/org/freedesktop/secrets"

  let deadline: Deadline
  private let connection: OpaquePointer
  private let logger: Logger
  private var collectionPath = "/"

  private init(deadline: Deadline, connection: OpaquePointer, logger: Logger) {
    self.deadline = deadline
    self.connection = connection
    self.logger = logger
  }

  deinit { g_object_unref(UnsafeMutableRawPointer(connection)) }

  /// Runs the checks, then `body`, all within `timeout` seconds.
  static func withSession<T>(
    timeout: Double, logger: Logger, requireUnlocked: Bool = true,
    _ body: (Session) throws -> T
  ) throws -> T {
    _ = prepared
    let deadline = Deadline(seconds: timeout)
    let session = try Session(deadline: deadline, connection: connect(deadline), logger: logger)
    do {
      try session.findDefaultCollection()
      if requireUnlocked { try session.checkUnlocked() }
      return try body(session)
    } catch let error as GLibError {
      throw session.failure(error)
    }
  }

  /// Done once per process before libsecret is first used: keep libsecret on
  /// the daemon (inside a sandbox it would silently pick its own file), and
  /// register libsecret's D-Bus error names (`secret_error_get_quark`).
  private static let prepared: Bool = {
    setenv("SECRET_BACKEND", "service", 1)
    _ = secret_error_get_quark()
    return true
  }()

  /// Connects with `g_bus_get_sync`, the connection libsecret shares.
  private static func connect(_ deadline: Deadline) throws -> OpaquePointer {
    var error: UnsafeMutablePointer<GError>?
    let connection = g_bus_get_sync(G_BUS_TYPE_SESSION, deadline.cancellable, &error)
    if let error {
      let failure = GLibError.take(error)
      if deadline.expired { throw SecretStoreError.keyringTimeout(seconds: deadline.seconds) }
      if getenv("DBUS_SESSION_BUS_ADDRESS") == nil {
        throw SecretStoreError.noSessionBus(detail: "DBUS_SESSION_BUS_ADDRESS is not set")
      }
      throw SecretStoreError.noSessionBus(
        detail: "cannot connect to DBUS_SESSION_BUS_ADDRESS: \(failure.message)")
    }
    guard let connection else {
      throw SecretStoreError.noSessionBus(detail: "no connection")
    }
    // GLib's shared connection ends the process when the bus goes away
    // (`g_dbus_connection_set_exit_on_close`); a library must not.
    g_dbus_connection_set_exit_on_close(connection, 0)
    if g_dbus_connection_is_closed(connection) != 0 {
      g_object_unref(UnsafeMutableRawPointer(connection))
      throw SecretStoreError.noSessionBus(detail: "the session bus connection is closed")
    }
    return connection
  }

  /// Maps a GLib failure, knowing whether the deadline has passed.
  func failure(_ error: GLibError) -> SecretStoreError {
    deadline.expired
      ? .keyringTimeout(seconds: deadline.seconds) : error.storeError(timeout: deadline.seconds)
  }

  /// Finds who provides the service, then the collection behind the alias
  /// `default` (`ReadAlias`).
  private func findDefaultCollection() throws {
    var owner = try serviceOwner()
    let reply: String
    do {
      reply = try call(
        Session.service, Session.servicePath, "org.freedesktop.Secret.Service", "ReadAlias",
        [g_variant_new_string("default")], expecting: "(o)"
      ) { Session.string(child: 0, of: $0) }
    } catch let error as GLibError where error.isDBus(G_DBUS_ERROR_UNKNOWN_METHOD) {
      throw SecretStoreError.noSecretService(
        detail: "\(Session.service) does not implement the Secret Service interface")
    }
    guard reply != "/" else { throw SecretStoreError.noDefaultCollection }
    collectionPath = reply
    if owner == nil { owner = try? serviceOwner() }
    logger.debug("keyring: \(Session.service) is \(owner ?? "?"), default collection \(reply)")
    if OwnerTracker.shared.note(owner) {
      logger.debug("keyring: the service has a new owner; libsecret reconnects")
    }
  }

  /// The unique bus name owning the service, or nil when nobody does yet
  /// but the bus can start it (`GetNameOwner`, `ListActivatableNames`).
  private func serviceOwner() throws -> String? {
    do {
      return try call(
        "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
        [g_variant_new_string(Session.service)], expecting: "(s)"
      ) { Session.string(child: 0, of: $0) }
    } catch let error as GLibError where error.isDBus(G_DBUS_ERROR_NAME_HAS_NO_OWNER) {
      let activatable = try call(
        "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "ListActivatableNames", [], expecting: "(as)"
      ) { Session.strings(child: 0, of: $0) }
      guard activatable.contains(Session.service) else {
        throw SecretStoreError.noSecretService(
          detail: "nothing provides \(Session.service) and the bus cannot start it")
      }
      return nil
    }
  }

  /// Throws `keyringLocked` when the default collection is locked. Asks the
  /// service each time (`Properties.Get` of `Locked`) rather than trusting a
  /// cached proxy property.
  func checkUnlocked() throws {
    let locked: Bool
    do {
      locked = try call(
        Session.service, collectionPath, "org.freedesktop.DBus.Properties", "Get",
        [
          g_variant_new_string("org.freedesktop.Secret.Collection"),
          g_variant_new_string("Locked"),
        ],
        expecting: "(v)"
      ) { reply in
        let boxed = g_variant_get_child_value(reply, 0)!
        defer { g_variant_unref(boxed) }
        let value = g_variant_get_variant(boxed)!
        defer { g_variant_unref(value) }
        guard Session.typeString(value) == "b" else {
          throw SecretStoreError.keyringFailed(detail: "the Locked property is not a boolean")
        }
        return g_variant_get_boolean(value) != 0
      }
    } catch let error as GLibError
      where error.isDBus(G_DBUS_ERROR_UNKNOWN_OBJECT, G_DBUS_ERROR_UNKNOWN_METHOD)
    {
      throw SecretStoreError.noDefaultCollection
    }
    if locked { throw SecretStoreError.keyringLocked }
  }

  /// One method call with `g_dbus_connection_call_sync`, bounded by the
  /// deadline both as a D-Bus timeout and through the cancellable.
  private func call<T>(
    _ destination: String, _ path: String, _ interface: String, _ method: String,
    _ arguments: [OpaquePointer?], expecting replyType: String,
    _ decode: (OpaquePointer) throws -> T
  ) throws -> T {
    let parameters =
      arguments.isEmpty
      ? nil
      : arguments.withUnsafeBufferPointer { g_variant_new_tuple($0.baseAddress, gsize($0.count)) }
    var error: UnsafeMutablePointer<GError>?
    let reply = g_dbus_connection_call_sync(
      connection, destination, path, interface, method, parameters, nil,
      G_DBUS_CALL_FLAGS_NONE, deadline.remainingMilliseconds, deadline.cancellable, &error)
    if let error {
      let failure = GLibError.take(error)
      if deadline.expired { throw SecretStoreError.keyringTimeout(seconds: deadline.seconds) }
      throw failure
    }
    guard let reply else { throw SecretStoreError.keyringFailed(detail: "\(method): no reply") }
    defer { g_variant_unref(reply) }
    guard Session.typeString(reply) == replyType else {
      throw SecretStoreError.keyringFailed(
        detail: "\(method) answered \(Session.typeString(reply)), not \(replyType)")
    }
    return try decode(reply)
  }

  /// `g_variant_get_type_string`.
  private static func typeString(_ value: OpaquePointer) -> String {
    String(cString: g_variant_get_type_string(value))
  }

  /// A string child, with `g_variant_get_child_value` and `g_variant_get_string`.
  private static func string(child index: Int, of value: OpaquePointer) -> String {
    let child = g_variant_get_child_value(value, gsize(index))!
    defer { g_variant_unref(child) }
    return String(cString: g_variant_get_string(child, nil))
  }

  /// The strings of an array child.
  private static func strings(child index: Int, of value: OpaquePointer) -> [String] {
    let array = g_variant_get_child_value(value, gsize(index))!
    defer { g_variant_unref(array) }
    return (0..<g_variant_n_children(array)).map { string(child: Int($0), of: array) }
  }
}

/// Remembers which bus connection last provided the service. libsecret
/// caches its service proxy and encryption session for the process; when
/// another daemon has taken over the name since (a restarted or replaced
/// keyring), that session is gone, so drop the cache with
/// `secret_service_disconnect` before libsecret uses it again.
private final class OwnerTracker: @unchecked Sendable {
  static let shared = OwnerTracker()
  private let lock = NSLock()
  private var owner: String?

  /// Records the current owner; returns whether libsecret was disconnected.
  func note(_ current: String?) -> Bool {
    guard let current else { return false }
    return lock.withLock {
      let changed = owner != nil && owner != current
      owner = current
      if changed { secret_service_disconnect() }
      return changed
    }
  }
}
