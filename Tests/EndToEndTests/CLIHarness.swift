import Foundation
import TestSupport

/// What one run of the built `cwm-profile` did.
struct CLIResult {
  var status: Int32
  var stdout: String
  var stderr: String
  /// Seconds from start to exit.
  var elapsed: Double
}

/// Runs the built `cwm-profile` in a home of its own, as a user would: with
/// arguments, an environment and, when given, bytes on standard input.
final class CLIHarness: @unchecked Sendable {
  let home: URL
  var environment: [String: String]

  /// The binary built beside the test bundle (or `CWM_PROFILE_BIN`).
  static let binary: String = {
    if let path = ProcessInfo.processInfo.environment["CWM_PROFILE_BIN"] { return path }
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var directory = bundle.deletingLastPathComponent()
    while directory.path != "/" {
      let candidate = directory.appendingPathComponent("cwm-profile").path
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory),
        !isDirectory.boolValue
      {
        return candidate
      }
      directory = directory.deletingLastPathComponent()
    }
    return "cwm-profile"
  }()

  /// A harness with no session bus at all: the headless case.
  init(base: [String: String]? = nil) throws {
    home = try makeTemporaryDirectory(prefix: "cwm-e2e")
    var environment = base ?? [:]
    environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    environment["HOME"] = home.path
    environment["XDG_CONFIG_HOME"] = home.path + "/config"
    environment["XDG_DATA_HOME"] = home.path + "/data"
    environment["XDG_CACHE_HOME"] = home.path + "/cache"
    environment["LANG"] = "C.UTF-8"
    if base == nil { environment["DBUS_SESSION_BUS_ADDRESS"] = nil }
    self.environment = environment
  }

  deinit { try? FileManager.default.removeItem(at: home) }

  var profilesFile: String { home.path + "/config/cwm-profile/profiles.json" }
  var secretsFile: String { home.path + "/data/cwm-profile/secrets.cwmsec" }

  /// Runs `cwm-profile` with `arguments`; `stdin` nil means no standard
  /// input at all (as under CI), not an empty pipe.
  ///
  /// - Parameter descriptors: files to open for reading on descriptors
  ///   above 2 (`[3: path]`), for `--passphrase-fd`; a shell opens them
  ///   and then becomes `cwm-profile`.
  @discardableResult
  func run(
    _ arguments: [String], stdin: String? = nil, extra: [String: String?] = [:],
    descriptors: [Int32: String] = [:], timeout: Double = 60
  ) throws -> CLIResult {
    var environment = self.environment
    for (key, value) in extra { environment[key] = value }
    let process = Process()
    if descriptors.isEmpty {
      process.executableURL = URL(fileURLWithPath: Self.binary)
      process.arguments = arguments
    } else {
      let redirections = descriptors.sorted { $0.key < $1.key }
        .map { "\($0.key)<'\($0.value)'" }.joined(separator: " ")
      process.executableURL = URL(fileURLWithPath: "/bin/sh")
      process.arguments = ["-c", "exec \"$0\" \"$@\" \(redirections)", Self.binary] + arguments
    }
    process.environment = environment
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    let input = Pipe()
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    let started = Date()
    try process.run()
    if let stdin {
      writeWithoutBrokenPipe(input.fileHandleForWriting.fileDescriptor, Array(stdin.utf8))
      try input.fileHandleForWriting.close()
    }
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errData = errors.fileHandleForReading.readDataToEndOfFile()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning {
      process.terminate()
      process.waitUntilExit()
    }
    process.waitUntilExit()
    return CLIResult(
      status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData, as: UTF8.self),
      elapsed: Date().timeIntervalSince(started))
  }

  /// `add NAME` for the stand-in's default credentials, private key on a pipe.
  @discardableResult
  func add(
    _ name: String, server: StandInServer, company: String = "acme", publicKey: String = "PUB",
    privateKey: String = "PRIV", clientId: String? = nil, more: [String] = [],
    extra: [String: String?] = [:]
  ) throws -> CLIResult {
    try run(
      [
        "add", name, "--server", "https://\(server.host)/", "--company", company,
        "--client-id", clientId ?? StandInConfig().clientId, "--public-key", publicKey,
        "--ca-file", server.caFile,
      ] + more, stdin: privateKey + "\n", extra: extra)
  }

  /// The profile list as stored, for checks on what was saved.
  func storedProfiles() throws -> [String: Any] {
    guard let data = FileManager.default.contents(atPath: profilesFile) else { return [:] }
    let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    return object?["profiles"] as? [String: Any] ?? [:]
  }
}

extension CLIResult {
  /// Whether stderr is exactly one line.
  var stderrIsOneLine: Bool {
    stderr.hasSuffix("\n") && stderr.dropLast().firstIndex(of: "\n") == nil
  }

  /// A description for failed expectations.
  var summary: String { "status \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// A started `cwm-profile` that a test can signal before it ends.
final class RunningCLI {
  let pid: pid_t
  let stdoutPath: String
  /// The write end of a pipe the program reads on `pipeDescriptor`, when
  /// one was asked for; the test writes to it and closes it.
  private(set) var pipeWriter: Int32 = -1

  /// Starts `cwm-profile` with a clean signal mask (test threads block
  /// some signals, and children would inherit that), no standard input,
  /// and standard output in a file.
  ///
  /// - Parameter pipeDescriptor: a descriptor number above 2 on which the
  ///   program finds the read end of a pipe whose write end is `pipeWriter`.
  init(_ arguments: [String], harness: CLIHarness, pipeDescriptor: Int32? = nil) throws {
    stdoutPath = harness.home.path + "/running-\(UUID().uuidString).out"
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var ends: [Int32] = [-1, -1]
    if let target = pipeDescriptor {
      guard pipe(&ends) == 0 else { throw CLIHarnessError(description: "pipe failed") }
      posix_spawn_file_actions_adddup2(&actions, ends[0], target)
      if ends[0] != target { posix_spawn_file_actions_addclose(&actions, ends[0]) }
      if ends[1] != target { posix_spawn_file_actions_addclose(&actions, ends[1]) }
    }
    defer { if ends[0] >= 0 { close(ends[0]) } }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv = ([CLIHarness.binary] + arguments).map { strdup($0) } + [nil]
    let envp = harness.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for pointer in argv + envp { free(pointer) } }
    var child: pid_t = 0
    let rc = posix_spawn(&child, CLIHarness.binary, &actions, &attributes, argv, envp)
    guard rc == 0 else {
      if ends[1] >= 0 { close(ends[1]) }
      throw CLIHarnessError(description: "posix_spawn failed: \(rc)")
    }
    pid = child
    pipeWriter = ends[1]
  }

  deinit { if pipeWriter >= 0 { close(pipeWriter) } }

  /// Writes `text` to the pipe and closes it.
  func finishPipe(with text: String) {
    guard pipeWriter >= 0 else { return }
    writeWithoutBrokenPipe(pipeWriter, Array(text.utf8))
    close(pipeWriter)
    pipeWriter = -1
  }

  /// Standard output so far.
  var output: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }

  /// Waits until standard output contains `text`, up to `timeout` seconds.
  func waitForOutput(_ text: String, timeout: Double = 30) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if output.contains(text) { return true }
      usleep(20_000)
    }
    return false
  }

  /// Waits for the process to end and returns its exit status, or nil
  /// (after killing it) when it outlives `timeout`.
  func wait(timeout: Double = 30) -> Int32? {
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    while Date() < deadline {
      if waitpid(pid, &status, WNOHANG) == pid {
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
      }
      usleep(20_000)
    }
    kill(pid, SIGKILL)
    waitpid(pid, &status, 0)
    return nil
  }
}

struct CLIHarnessError: Error, CustomStringConvertible {
  var description: String
}

/// Writes to a pipe whose reader may already be gone (a command that
/// failed before reading its input) without the test process dying of
/// `SIGPIPE`: the signal is blocked on this thread for the write, and one
/// it raised is taken off the thread again before the mask is restored.
/// The signal's disposition is left alone, so children still get the
/// default.
func writeWithoutBrokenPipe(_ fd: Int32, _ bytes: [UInt8]) {
  var pipeSignal = sigset_t()
  sigemptyset(&pipeSignal)
  sigaddset(&pipeSignal, SIGPIPE)
  var saved = sigset_t()
  pthread_sigmask(SIG_BLOCK, &pipeSignal, &saved)
  var offset = 0
  var broken = false
  while offset < bytes.count {
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
    if n < 0 {
      if errno == EINTR { continue }
      broken = errno == EPIPE
      break
    }
    offset += n
  }
  if broken {
    var none = timespec()
    _ = sigtimedwait(&pipeSignal, nil, &none)
  }
  pthread_sigmask(SIG_SETMASK, &saved, nil)
}
