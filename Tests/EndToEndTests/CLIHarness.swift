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
  @discardableResult
  func run(
    _ arguments: [String], stdin: String? = nil, extra: [String: String?] = [:],
    timeout: Double = 60
  ) throws -> CLIResult {
    var environment = self.environment
    for (key, value) in extra { environment[key] = value }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Self.binary)
    process.arguments = arguments
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
      input.fileHandleForWriting.write(Data(stdin.utf8))
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
