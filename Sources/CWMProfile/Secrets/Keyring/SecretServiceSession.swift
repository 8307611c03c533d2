import CSecret
import Dispatch
import Foundation

// The conversation with the Secret Service under every keyring operation:
// a deadline that cancels hung calls, GLib errors mapped to store errors,
// and the checks (bus, service, default collection, locked flag) each
// operation starts with. Together with `KeyringSecretStore.swift`, the only
// code that calls libsecret, GIO or GLib.

// MARK: - Deadline

/// A `GCancellable` that a timer cancels once the time is up
/// (`g_cancellable_new`, `g_cancellable_cancel`).
final class Deadline {
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
struct GLibError: Error {
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
final class Session {
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
final class OwnerTracker: @unchecked Sendable {
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
