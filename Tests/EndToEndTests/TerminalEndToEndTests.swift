import Foundation
import TestSupport
import Testing

/// The built command on a real pseudo-terminal, answered the way a person
/// types: each answer only once its prompt is on the screen.
@Suite struct TerminalEndToEndTests {
  /// Runs argv on a new pseudo-terminal (its controlling terminal too),
  /// answers each prompt in turn, then prints the whole screen and exits
  /// with the program's status.
  static let driver = """
    import json, os, pty, select, sys, time
    answers = json.loads(sys.argv[1])
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.argv[2], sys.argv[2:])
    screen, seen, deadline = b"", 0, time.time() + 30
    while time.time() < deadline:
        if answers and answers[0][0].encode() in screen[seen:]:
            seen = len(screen)
            os.write(fd, (answers.pop(0)[1] + "\\n").encode())
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
    done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
    sys.stdout.write(screen.decode("utf-8", "replace"))
    sys.exit(os.waitstatus_to_exitcode(status))
    """

  func type(_ answers: [(String, String)], _ arguments: [String], cli: CLIHarness) throws
    -> CLIResult
  {
    let pairs = try JSONSerialization.data(withJSONObject: answers.map { [$0.0, $0.1] })
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments =
      ["python3", "-c", Self.driver, String(decoding: pairs, as: UTF8.self), CLIHarness.binary]
      + arguments
    process.environment = cli.environment
    let output = Pipe()
    process.standardOutput = output
    process.standardInput = FileHandle.nullDevice
    let started = Date()
    try process.run()
    let screen = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLIResult(
      status: process.terminationStatus, stdout: String(decoding: screen, as: UTF8.self),
      stderr: "", elapsed: Date().timeIntervalSince(started))
  }

  func addArguments(_ server: StandInServer) -> [String] {
    [
      "add", "acme", "--server", server.host, "--company", "acme", "--client-id",
      StandInConfig().clientId, "--public-key", "PUB", "--ca-file", server.caFile,
    ]
  }

  @Test func aNewFileIsCreatedWithAPassphraseTypedTwiceAndNothingEchoed() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()

    let added = try type(
      [
        ("Private key for acme", "PRIV"), ("New passphrase for", "typed pass"),
        ("Repeat the new passphrase", "typed pass"),
      ], addArguments(server), cli: cli)
    let connected = try cli.run(
      ["connect", "acme"], extra: ["CWM_PROFILE_PASSPHRASE": "typed pass"])

    #expect(added.status == 0, "\(added.stdout)")
    #expect(added.stdout.contains("added profile 'acme'"), "\(added.stdout)")
    #expect(!added.stdout.contains("PRIV") && !added.stdout.contains("typed pass"))
    #expect(connected.status == 0, "\(connected.summary)")
  }

  @Test func aConfirmationThatDiffersSavesNothing() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()

    let added = try type(
      [
        ("Private key for acme", "PRIV"), ("New passphrase for", "one"),
        ("Repeat the new passphrase", "other"),
      ], addArguments(server), cli: cli)

    #expect(added.status == 11, "\(added.stdout)")
    #expect(added.stdout.contains("the two entries differ"))
    #expect(try cli.storedProfiles().isEmpty)
    #expect(!FileManager.default.fileExists(atPath: cli.secretsFile))
  }
}
