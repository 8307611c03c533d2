import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A Secret Service of the tests' own: an unlocked GNOME keyring on a
/// private D-Bus session bus, with a throwaway home, so that no test
/// touches the user's keyring or session bus.
///
/// Every command it runs is bounded by a timeout, and it only ever signals
/// processes it started (the bus) or learned from its own bus (the keyring
/// daemons). The bus and everything in it go away with `stop()`, when the
/// value is released, or when the test process ends.
public final class PrivateSecretService: @unchecked Sendable {
  /// The environment for child processes: the private home and XDG folders,
  /// `DBUS_SESSION_BUS_ADDRESS` of the private bus, and no `DISPLAY`,
  /// `WAYLAND_DISPLAY`, `GNOME_KEYRING_CONTROL` or `SSH_AUTH_SOCK`.
  public let environment: [String: String]
  /// The private bus's address, as `dbus-daemon` printed it.
  public let busAddress: String
  /// The temporary folder holding the home, the XDG folders and the bus.
  public let directory: URL
  /// The object path of the collection the keyring daemon unlocks.
  public let collectionPath = "/org/freedesktop/secrets/collection/login"

  private let password = "cwm-profile-test-\(UUID().uuidString)"
  private let busPID: pid_t
  private let mutex = NSLock()
  private var keyringPIDs: [pid_t] = []
  private var watchdogPID: pid_t?
  private var watchdogPipe: Int32 = -1
  private var stopped = false

  /// The variables removed from the environment before the bus starts:
  /// whatever the bus starts inherits its environment.
  public static let removedVariables = [
    "DISPLAY", "WAYLAND_DISPLAY", "GNOME_KEYRING_CONTROL", "SSH_AUTH_SOCK",
    "DBUS_SESSION_BUS_ADDRESS", "DBUS_STARTER_ADDRESS", "DBUS_STARTER_BUS_TYPE",
  ]

  /// The tools the fixture needs.
  public static let requiredTools = ["dbus-daemon", "gnome-keyring-daemon", "gdbus"]

  /// Whether `dbus-daemon`, `gnome-keyring-daemon` and `gdbus` are on `PATH`.
  public static var isAvailable: Bool { missingTools.isEmpty }

  /// The required tools that are not on `PATH`.
  public static var missingTools: [String] {
    requiredTools.filter { executablePath($0) == nil }
  }

  /// Whether the environment demands the keyring tests run
  /// (`CWM_REQUIRE_KEYRING=1`, as CI sets), so that a missing tool is a
  /// failure instead of a skip.
  public static var isRequired: Bool {
    ProcessInfo.processInfo.environment["CWM_REQUIRE_KEYRING"] == "1"
  }

  /// Whether tests needing the fixture should run: the tools are there, or
  /// they are required (and then fail if missing).
  public static var shouldRun: Bool { isAvailable || isRequired }

  /// Why keyring tests are skipped, for a test trait's comment.
  public static var skipReason: String {
    "needs \(missingTools.joined(separator: ", ")) on PATH; "
      + "set CWM_REQUIRE_KEYRING=1 to make this a failure"
  }

  private init(directory: URL, environment: [String: String], address: String, busPID: pid_t) {
    self.directory = directory
    self.environment = environment
    self.busAddress = address
    self.busPID = busPID
  }

  deinit {
    stop()
    try? FileManager.default.removeItem(at: directory)
  }

  // MARK: - Starting

  /// Starts a private bus and an unlocked keyring daemon on it, and checks
  /// that the login collection really is unlocked.
  ///
  /// - Parameter keyring: false starts the bus alone, with no way to start
  ///   a Secret Service on it (no D-Bus activation): a session bus without
  ///   a keyring, as on a server with a bus but no desktop.
  public static func start(keyring: Bool = true) throws -> PrivateSecretService {
    let missing = missingTools
    guard missing.isEmpty else { throw FixtureError.toolsMissing(missing) }
    let directory = try makePrivateDirectory()
    var environment: [String: String]
    let (address, pid): (String, pid_t)
    do {
      environment = try privateEnvironment(in: directory)
      (address, pid) = try startBus(
        in: directory, environment: environment, activation: keyring)
    } catch {
      try? FileManager.default.removeItem(at: directory)
      throw error
    }
    environment["DBUS_SESSION_BUS_ADDRESS"] = address
    // From here on the instance owns the bus: a throw releases it, and
    // releasing it stops the bus and removes the folder.
    let service = PrivateSecretService(
      directory: directory, environment: environment, address: address, busPID: pid)
    try service.startWatchdog()
    if keyring { try service.startKeyring(replacing: false) }
    return service
  }

  /// A folder only we can enter (`mkdtemp` makes it mode 0700).
  private static func makePrivateDirectory() throws -> URL {
    var template = Array(
      (NSTemporaryDirectory() as NSString).appendingPathComponent("cwm-keyring.XXXXXX").utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
      throw FixtureError.setupFailed("mkdtemp failed: errno \(errno)")
    }
    return URL(fileURLWithPath: String(cString: made), isDirectory: true)
  }

  /// This process's environment without the variables that lead elsewhere,
  /// and with a home and XDG folders (mode 0700) inside `directory`.
  private static func privateEnvironment(in directory: URL) throws -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    for name in removedVariables { environment[name] = nil }
    for (name, folder) in [
      ("HOME", "home"), ("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
      ("XDG_CACHE_HOME", "cache"), ("XDG_STATE_HOME", "state"), ("XDG_RUNTIME_DIR", "run"),
    ] {
      let url = directory.appendingPathComponent(folder)
      try FileManager.default.createDirectory(
        at: url, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
      environment[name] = url.path
    }
    return environment
  }

  /// Runs `dbus-daemon --session --fork` and reads back its address and PID.
  /// Without activation it runs from a configuration of its own that names
  /// no service folders, so nothing can be started on demand.
  private static func startBus(
    in directory: URL, environment: [String: String], activation: Bool
  ) throws -> (String, pid_t) {
    let socket = directory.appendingPathComponent("bus").path
    var configuration = ["--session"]
    if !activation {
      let path = directory.appendingPathComponent("bus.conf")
      try Data(bareBusConfiguration.utf8).write(to: path)
      configuration = ["--config-file=\(path.path)"]
    }
    let result = try execute(
      "dbus-daemon",
      configuration + [
        "--fork", "--nopidfile", "--print-address=1", "--print-pid=1",
        "--address=unix:path=\(socket)",
      ],
      environment: environment, input: nil, timeout: 10, scratch: directory.path)
    let lines = result.stdout.split(separator: "\n").map(String.init)
    guard result.status == 0, lines.count >= 2, let pid = pid_t(lines[1]), pid > 0 else {
      throw FixtureError.commandFailed("dbus-daemon", result)
    }
    return (lines[0], pid)
  }

  /// A session bus that lets everyone talk and own names, and starts
  /// nothing by itself.
  private static let bareBusConfiguration = """
    <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
     "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
    <busconfig>
      <type>session</type>
      <listen>unix:tmpdir=/tmp</listen>
      <auth>EXTERNAL</auth>
      <policy context="default">
        <allow send_destination="*" eavesdrop="true"/>
        <allow eavesdrop="true"/>
        <allow own="*"/>
      </policy>
    </busconfig>
    """

  /// A child that cleans up if this process dies without stopping the
  /// fixture: it waits for end-of-file on a pipe whose other end only we
  /// hold, then kills the daemons listed in `pids` (if they still are what
  /// the list says) and removes the folder.
  private func startWatchdog() throws {
    try recordPIDs([])
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { throw FixtureError.setupFailed("pipe failed: errno \(errno)") }
    for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
    defer { close(ends[0]) }
    let script = """
      read -r _
      while read -r pid name; do
        grep -qa "$name" "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid"
      done < "$1/pids"
      rm -rf "$1"
      """
    do {
      let pid = try Self.spawn(
        "/bin/sh", ["-c", script, "watchdog", directory.path], environment: environment,
        stdin: ends[0],
        stdout: -1, stderr: -1)
      mutex.withLock {
        watchdogPID = pid
        watchdogPipe = ends[1]
      }
    } catch {
      close(ends[1])
      throw error
    }
  }

  /// `gnome-keyring-daemon --unlock` (or `--replace --unlock`) with the
  /// password on stdin, then waits for the name and an unlocked collection.
  private func startKeyring(replacing: Bool) throws {
    let previous = mutex.withLock { keyringPIDs.last }
    let arguments = (replacing ? ["--replace"] : []) + ["--unlock", "--components=secrets"]
    let result = try run("gnome-keyring-daemon", arguments, input: Data(password.utf8))
    guard result.status == 0 else {
      throw FixtureError.commandFailed("gnome-keyring-daemon", result)
    }
    // Without this wait a second daemon is sometimes started by activation.
    let wait = try run(
      "gdbus", ["wait", "--session", "--timeout", "10", "org.freedesktop.secrets"], timeout: 15)
    guard wait.status == 0 else { throw FixtureError.commandFailed("gdbus wait", wait) }
    // A replacing daemon takes the name over from the old one; wait for the
    // new owner, then for its collection to report unlocked.
    try retry("the keyring daemon did not take over the bus name") {
      let pid = try serviceOwnerPID()
      guard pid != previous else { return false }
      try mutex.withLock {
        if !keyringPIDs.contains(pid) { keyringPIDs.append(pid) }
        try recordPIDs(keyringPIDs)
      }
      return true
    }
    try retry("the collection did not unlock (\(collectionPath))") { try !isLocked() }
  }

  /// Writes the daemons' PIDs where the watchdog reads them.
  private func recordPIDs(_ keyrings: [pid_t]) throws {
    let lines = ["\(busPID) dbus-daemon"] + keyrings.map { "\($0) gnome-keyring" }
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(
      to: directory.appendingPathComponent("pids"), options: .atomic)
  }

  // MARK: - Locking

  /// Whether the login collection is locked, asked with `gdbus call` for the
  /// collection's `Locked` property.
  public func isLocked() throws -> Bool {
    let result = try run(
      "gdbus",
      [
        "call", "--session", "--dest", "org.freedesktop.secrets", "--object-path",
        collectionPath, "--method", "org.freedesktop.DBus.Properties.Get",
        "org.freedesktop.Secret.Collection", "Locked",
      ])
    switch result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) {
    case "(<true>,)": return true
    case "(<false>,)": return false
    default: throw FixtureError.commandFailed("gdbus call Locked", result)
    }
  }

  /// Locks the login collection with the Secret Service `Lock` method.
  public func lock() throws {
    let result = try run(
      "gdbus",
      [
        "call", "--session", "--dest", "org.freedesktop.secrets", "--object-path",
        "/org/freedesktop/secrets", "--method", "org.freedesktop.Secret.Service.Lock",
        "[objectpath '\(collectionPath)']",
      ])
    guard result.status == 0 else { throw FixtureError.commandFailed("gdbus call Lock", result) }
    try retry("the collection did not lock") { try isLocked() }
  }

  /// Unlocks it again the way a login does: a replacing daemon started with
  /// the password (`gnome-keyring-daemon --replace --unlock`).
  public func unlock() throws {
    try startKeyring(replacing: true)
  }

  /// Stops the current keyring daemon with `SIGSTOP`, so that it accepts
  /// calls and never answers, like a hung daemon.
  public func suspendKeyring() throws {
    try signalKeyring(SIGSTOP)
  }

  /// Lets a suspended keyring daemon run again (`SIGCONT`).
  public func resumeKeyring() throws {
    try signalKeyring(SIGCONT)
  }

  /// Ends the current keyring daemon, as a crash would, and waits until it
  /// no longer owns the service name. On a bus with activation the next
  /// call starts a new daemon, whose login keyring is locked until someone
  /// unlocks it; `adoptServiceOwner()` records that one for `stop()`.
  public func stopKeyring() throws {
    guard let pid = mutex.withLock({ keyringPIDs.last }) else {
      throw FixtureError.setupFailed("no keyring daemon of ours is running")
    }
    Self.end(pid, named: "gnome-keyring")
    try retry("the stopped daemon still owns the name") { (try? serviceOwnerPID()) != pid }
  }

  /// Records whoever now provides the service (a daemon the bus started
  /// on demand), so that `stop()` ends it too.
  public func adoptServiceOwner() throws {
    guard let pid = try? serviceOwnerPID(), Self.isRunning(pid, named: "gnome-keyring") else {
      return
    }
    try mutex.withLock {
      if !keyringPIDs.contains(pid) { keyringPIDs.append(pid) }
      try recordPIDs(keyringPIDs)
    }
  }

  private func signalKeyring(_ signal: Int32) throws {
    guard let pid = mutex.withLock({ keyringPIDs.last }),
      Self.isRunning(pid, named: "gnome-keyring")
    else { throw FixtureError.setupFailed("no keyring daemon of ours is running") }
    guard kill(pid, signal) == 0 else {
      throw FixtureError.setupFailed("kill \(pid) failed: errno \(errno)")
    }
  }

  /// The PID behind `org.freedesktop.secrets`, from the bus itself
  /// (`GetConnectionUnixProcessID`).
  private func serviceOwnerPID() throws -> pid_t {
    let result = try run(
      "gdbus",
      [
        "call", "--session", "--dest", "org.freedesktop.DBus", "--object-path",
        "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.GetConnectionUnixProcessID",
        "org.freedesktop.secrets",
      ])
    // The answer reads "(uint32 1234,)".
    let digits = result.stdout.split(separator: " ").last?.filter(\.isNumber) ?? ""
    guard result.status == 0, let pid = pid_t(digits), pid > 0 else {
      throw FixtureError.commandFailed("gdbus call GetConnectionUnixProcessID", result)
    }
    return pid
  }

  // MARK: - Stopping

  /// Ends the keyring daemons and the bus by their PIDs. Safe to call twice.
  public func stop() {
    let (alreadyStopped, guardPID, guardPipe, keyrings) = mutex.withLock {
      defer { stopped = true }
      return (stopped, watchdogPID, watchdogPipe, keyringPIDs)
    }
    guard !alreadyStopped else { return }
    // The watchdog goes first, so it cannot signal a PID after we did.
    if let guardPID {
      kill(guardPID, SIGKILL)
      var status: Int32 = 0
      waitpid(guardPID, &status, 0)
    }
    if guardPipe >= 0 { close(guardPipe) }
    for pid in keyrings { Self.end(pid, named: "gnome-keyring") }
    Self.end(busPID, named: "dbus-daemon")
  }

  /// `SIGTERM`, then `SIGKILL` after a second, if `pid` is still the
  /// process we think it is.
  private static func end(_ pid: pid_t, named name: String) {
    guard isRunning(pid, named: name) else { return }
    kill(pid, SIGTERM)
    for _ in 0..<100 {
      guard isRunning(pid, named: name) else { return }
      usleep(10_000)
    }
    kill(pid, SIGKILL)
  }

  /// Whether `pid` is alive (not a zombie) and its command line mentions
  /// `name`, so that a recycled PID is never signalled.
  private static func isRunning(_ pid: pid_t, named name: String) -> Bool {
    guard kill(pid, 0) == 0,
      let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let state = stat.split(separator: ")").last?.split(separator: " ").first,
      state != "Z", state != "X",
      let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
    else { return false }
    return String(decoding: cmdline, as: UTF8.self).contains(name)
  }

  // MARK: - One fixture per process

  /// The fixture shared by a test process, started on first use; the
  /// process's own `DBUS_SESSION_BUS_ADDRESS`, XDG folders and display
  /// variables are pointed at it (`exportToProcessEnvironment()`).
  ///
  /// In-process keyring tests need this: libsecret and GLib read the bus
  /// address from the process environment once and keep the connection.
  /// Call it before anything in the process uses libsecret. Tests that
  /// lock or suspend it must keep to one serialized suite, as the rest of
  /// the process sees the same keyring.
  public static func shared() throws -> PrivateSecretService {
    try sharedResult.get()
  }

  private static let sharedResult: Result<PrivateSecretService, any Error> = Result {
    let service = try start()
    service.exportToProcessEnvironment()
    // Globals are never released, so stop the daemons when the process exits.
    atexit {
      if case .success(let service) = PrivateSecretService.sharedResult {
        service.stop()
        try? FileManager.default.removeItem(at: service.directory)
      }
    }
    return service
  }

  /// Points this process at the private bus: `DBUS_SESSION_BUS_ADDRESS` and
  /// the XDG folders are set, the display variables unset. `HOME` is left.
  public func exportToProcessEnvironment() {
    for name in Self.removedVariables { unsetenv(name) }
    for name in [
      "DBUS_SESSION_BUS_ADDRESS", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
      "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
    ] {
      if let value = environment[name] { setenv(name, value, 1) }
    }
  }

  // MARK: - Running commands

  /// What a finished command printed, and how it ended.
  public struct CommandResult: Sendable, CustomStringConvertible {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    /// Standard output followed by standard error.
    public var output: String { stdout + stderr }

    public var description: String {
      "status \(status), stdout \(stdout.debugDescription), stderr \(stderr.debugDescription)"
    }
  }

  /// Runs `executable` (a name looked up on `PATH`, or a path) with the
  /// fixture's environment, killing it after `timeout` seconds.
  public func run(
    _ executable: String, _ arguments: [String], input: Data? = nil, timeout: Double = 10
  ) throws -> CommandResult {
    try Self.execute(
      executable, arguments, environment: environment, input: input, timeout: timeout,
      scratch: directory.path)
  }

  /// Runs `executable` with `environment`, killing it after `timeout`
  /// seconds.
  ///
  /// Foundation's `Process` does not suit the daemons: it sees a child end
  /// only when every holder of a socket it hands down has closed it, which a
  /// forking daemon never does, and children inherit the calling thread's
  /// blocked signals (test threads block `SIGTERM` and `SIGCHLD`). So this
  /// uses `posix_spawn` with a clean signal mask, and output goes to files
  /// rather than pipes a daemon could keep open.
  public static func run(
    _ executable: String, _ arguments: [String], environment: [String: String],
    input: Data? = nil, timeout: Double = 10
  ) throws -> CommandResult {
    try execute(
      executable, arguments, environment: environment, input: input, timeout: timeout,
      scratch: NSTemporaryDirectory())
  }

  /// `run`, keeping the input and output files in the folder `scratch`.
  private static func execute(
    _ executable: String, _ arguments: [String], environment: [String: String],
    input: Data?, timeout: Double, scratch folder: String
  ) throws -> CommandResult {
    guard let path = executable.contains("/") ? executable : executablePath(executable) else {
      throw FixtureError.toolsMissing([executable])
    }
    let scratch = (folder as NSString).appendingPathComponent("run-\(UUID().uuidString)")
    let (inPath, outPath, errPath) = (scratch + ".in", scratch + ".out", scratch + ".err")
    defer { for file in [inPath, outPath, errPath] { unlink(file) } }
    if let input {
      guard
        FileManager.default.createFile(
          atPath: inPath, contents: input, attributes: [.posixPermissions: 0o600])
      else { throw FixtureError.setupFailed("cannot write \(inPath)") }
    }
    let descriptors = [
      open(input == nil ? "/dev/null" : inPath, O_RDONLY | O_CLOEXEC),
      open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600),
      open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600),
    ]
    defer { for fd in descriptors where fd >= 0 { close(fd) } }
    guard !descriptors.contains(-1) else {
      throw FixtureError.setupFailed("cannot open files for \(executable): errno \(errno)")
    }

    let pid = try spawn(
      path, arguments, environment: environment, stdin: descriptors[0],
      stdout: descriptors[1], stderr: descriptors[2])
    guard let status = waitForExit(pid, timeout: timeout) else {
      kill(pid, SIGKILL)
      var ignored: Int32 = 0
      waitpid(pid, &ignored, 0)
      throw FixtureError.timedOut(([executable] + arguments).joined(separator: " "), timeout)
    }
    func contents(_ file: String) -> String {
      String(decoding: FileManager.default.contents(atPath: file) ?? Data(), as: UTF8.self)
    }
    return CommandResult(status: status, stdout: contents(outPath), stderr: contents(errPath))
  }

  /// `posix_spawn` with the given standard descriptors (-1: `/dev/null`),
  /// every other descriptor closed, an empty signal mask and default signal
  /// handling, in a process group of its own.
  private static func spawn(
    _ path: String, _ arguments: [String], environment: [String: String],
    stdin: Int32, stdout: Int32, stderr: Int32
  ) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for (fd, target) in [(stdin, Int32(0)), (stdout, 1), (stderr, 2)] {
      if fd >= 0 {
        posix_spawn_file_actions_adddup2(&actions, fd, target)
      } else {
        posix_spawn_file_actions_addopen(
          &actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
      }
    }
    // Close whatever else is open, CLOEXEC or not: a daemon holding another
    // child's pipe or socket would keep that child from being seen to end.
    // Closing one that has closed meanwhile is not an error for glibc.
    for fd in openDescriptors() where fd > 2 {
      posix_spawn_file_actions_addclose(&actions, fd)
    }

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2] {
      sigaddset(&defaults, signal)
    }
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setpgroup(&attributes, 0)
    posix_spawnattr_setflags(
      &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for pointer in argv + envp { free(pointer) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard rc == 0 else {
      throw FixtureError.setupFailed("posix_spawn \(path) failed: errno \(rc)")
    }
    return pid
  }

  /// The descriptors this process has open, from `/proc/self/fd`.
  private static func openDescriptors() -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return names.compactMap { Int32($0) }
  }

  /// Polls `waitpid` until `pid` ends; its exit status (128 + the signal
  /// when killed), or nil once `timeout` seconds have passed.
  private static func waitForExit(_ pid: pid_t, timeout: Double) -> Int32? {
    let end = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    repeat {
      let reaped = waitpid(pid, &status, WNOHANG)
      if reaped == pid {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
      }
      if reaped == -1 && errno != EINTR { return -1 }
      usleep(2_000)
    } while Date() < end
    return nil
  }

  /// The full path of `name` on `PATH`, if it is there and executable.
  public static func executablePath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":")
      .map { ($0.isEmpty ? "." : String($0)) + "/" + name }
      .first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  /// Calls `check` every 20 ms for up to five seconds until it is true.
  private func retry(_ failure: String, _ check: () throws -> Bool) throws {
    let end = Date().addingTimeInterval(5)
    var lastError: (any Error)?
    while Date() < end {
      do {
        if try check() { return }
      } catch {
        lastError = error
      }
      usleep(20_000)
    }
    throw FixtureError.setupFailed(failure + (lastError.map { ": \($0)" } ?? ""))
  }

  /// Why the fixture could not do what was asked.
  public enum FixtureError: Error, CustomStringConvertible {
    case toolsMissing([String])
    case commandFailed(String, CommandResult)
    case timedOut(String, Double)
    case setupFailed(String)

    public var description: String {
      switch self {
      case .toolsMissing(let tools):
        return "not on PATH: \(tools.joined(separator: ", "))"
      case .commandFailed(let command, let result): return "\(command) failed: \(result)"
      case .timedOut(let command, let seconds): return "\(command) did not finish in \(seconds) s"
      case .setupFailed(let reason): return reason
      }
    }
  }
}
