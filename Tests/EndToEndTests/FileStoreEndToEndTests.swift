import CWMProfile
import Foundation
import TestSupport
import Testing

/// The encrypted file through the built command: every passphrase source
/// with no terminal, parallel and killed writers, the previous generation
/// and a changed passphrase.
@Suite struct FileStoreEndToEndTests {
  static let passphrase = "e2e passphrase"
  static let environment = ["CWM_PROFILE_PASSPHRASE": passphrase as String?]

  /// A file only its owner can read, in the harness's home.
  func secretFile(_ cli: CLIHarness, _ name: String, _ text: String, mode: Int = 0o600) throws
    -> String
  {
    let path = cli.home.path + "/" + name
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    return path
  }

  /// The secrets file opened with the library, as another program would.
  func entries(_ cli: CLIHarness) throws -> [String] {
    try EncryptedFileStore(
      path: cli.secretsFile, passphrase: FixedPassphrase(SecretBytes(utf8: Self.passphrase))
    ).entryNames()
  }

  @Test func thePassphraseComesFromEachSourceWithoutATerminal() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    let good = try secretFile(cli, "good", Self.passphrase + "\n")
    let credentials = cli.home.path + "/credentials"
    try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
    _ = try secretFile(cli, "credentials/cwm-profile-passphrase", Self.passphrase)

    let byDescriptor = try cli.run(
      [
        "--passphrase-fd", "3", "add", "acme", "--server", server.host, "--company", "acme",
        "--client-id", StandInConfig().clientId, "--public-key", "PUB", "--ca-file",
        server.caFile,
      ], stdin: "PRIV\n", descriptors: [3: good])
    let byFile = try cli.run(["connect", "acme", "--passphrase-file", good])
    let byCredential = try cli.run(
      ["connect", "acme", "--force"], extra: ["CREDENTIALS_DIRECTORY": credentials])
    let byVariable = try cli.run(["connect", "acme", "--force"], extra: Self.environment)
    let byNothing = try cli.run(["connect", "acme"])

    for result in [byDescriptor, byFile, byCredential, byVariable] {
      #expect(result.status == 0, "\(result.summary)")
    }
    #expect(byNothing.status == 10, "\(byNothing.summary)")
    #expect(byNothing.stderr.contains("--passphrase-fd") && byNothing.stderrIsOneLine)
    #expect(byNothing.elapsed < 10)
    #expect(try entries(cli).contains("acme/private-key"))
  }

  @Test func badPassphraseSourcesHaveTheirOwnErrorsAndChangeNothing() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, extra: Self.environment)
    let before = try Data(contentsOf: URL(fileURLWithPath: cli.secretsFile))
    let wrong = try secretFile(cli, "wrong", "not it\n")
    let empty = try secretFile(cli, "empty", "\n")
    let open = try secretFile(cli, "open", Self.passphrase, mode: 0o644)

    let results = [
      (try cli.add("b", server: server, more: ["--passphrase-file", wrong]), Int32(12)),
      (try cli.add("c", server: server, more: ["--passphrase-file", empty]), 11),
      (try cli.add("d", server: server, more: ["--passphrase-file", open]), 15),
      (try cli.add("e", server: server, more: ["--passphrase-file", cli.home.path + "/none"]), 18),
      (try cli.add("f", server: server, more: ["--passphrase-fd", "250"]), 18),
      (try cli.add("g", server: server, more: ["--passphrase-fd", "x"]), 2),
    ]

    for (result, code) in results {
      #expect(result.status == code, "\(result.summary)")
      #expect(!result.stderr.contains(Self.passphrase))
    }
    #expect(Set(try cli.storedProfiles().keys) == ["acme"])
    #expect(try Data(contentsOf: URL(fileURLWithPath: cli.secretsFile)) == before)
  }

  @Test func parallelAddsFromManyProcessesLoseNothing() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    let count = 12
    let statuses = StatusList(count: count)

    DispatchQueue.concurrentPerform(iterations: count) { index in
      let result = try? cli.add(
        "p\(index)", server: server, privateKey: "PRIV-\(index)", extra: Self.environment)
      statuses.set(index, result?.status ?? -1)
    }

    #expect(statuses.all == Array(repeating: 0, count: count))
    #expect(try cli.storedProfiles().count == count)
    let store = EncryptedFileStore(
      path: cli.secretsFile, passphrase: FixedPassphrase(SecretBytes(utf8: Self.passphrase)))
    for index in 0..<count {
      let secret = try store.read(SecretKey(profile: "p\(index)", kind: .privateKey))
      #expect(secret?.unsafeStringCopy() == "PRIV-\(index)")
    }
  }

  @Test func writersKilledAtAnyInstantLeaveTheOldOrTheNewState() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("first", server: server, extra: Self.environment)
    cli.environment["CWM_PROFILE_PASSPHRASE"] = Self.passphrase
    var killed = 0

    for round in 0..<12 {
      let running = try RunningCLI(
        [
          "add", "k\(round)", "--server", server.host, "--company", "acme", "--client-id",
          StandInConfig().clientId, "--public-key", "PUB",
        ], harness: cli, pipeDescriptor: 0)
      running.finishPipe(with: "PRIV-\(round)\n")
      usleep(UInt32(round * 25_000))
      kill(running.pid, SIGKILL)
      if running.wait() == 128 + SIGKILL { killed += 1 }

      let names = try entries(cli)
      let profiles = try cli.storedProfiles().keys
      #expect(names.contains("first/private-key"))
      for profile in profiles {
        #expect(names.contains("\(profile)/private-key"), "round \(round): \(profile)")
      }
    }
    let last = try cli.add("last", server: server)
    let folder = (cli.secretsFile as NSString).deletingLastPathComponent
    let strays = try FileManager.default.contentsOfDirectory(atPath: folder)
      .filter { $0.contains(".tmp-") }

    #expect(killed > 0, "no writer was killed before it finished")
    #expect(last.status == 0, "\(last.summary)")
    #expect(strays.isEmpty, "\(strays)")
    #expect(try entries(cli).contains("last/private-key"))
  }

  @Test func theProcessIsHardenedWhileItHoldsSecrets() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, extra: Self.environment)

    let running = try RunningCLI(
      ["--passphrase-fd", "3", "connect", "acme"], harness: cli, pipeDescriptor: 3)
    var locked = 0
    for _ in 0..<250 where locked == 0 {
      locked = lockedKiB(running.pid)
      usleep(20_000)
    }
    let limits = (try? String(contentsOfFile: "/proc/\(running.pid)/limits", encoding: .utf8)) ?? ""
    let coreLine = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }
    running.finishPipe(with: Self.passphrase + "\n")
    let status = running.wait()

    #expect(locked > 0, "no memory was locked while the passphrase was read")
    let fields = coreLine?.split(separator: " ", omittingEmptySubsequences: true) ?? []
    #expect(fields.count > 4 && fields[4] == "0", "\(coreLine ?? "no limits line")")
    #expect(status == 0)
  }

  /// `VmLck` of a process, in KiB.
  func lockedKiB(_ pid: pid_t) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmLck:") })
    else { return 0 }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
  }

  @Test func thePreviousGenerationComesBackAndAChangedPassphraseTakesOver() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("a", server: server, extra: Self.environment)
    try cli.add("b", server: server, extra: Self.environment)
    let newer = ["CWM_PROFILE_PASSPHRASE": "newer one" as String?]

    let dry = try cli.run(["restore-file", "--dry-run"], extra: Self.environment)
    let restore = try cli.run(["restore-file"], extra: Self.environment)
    let lostB = try cli.run(["connect", "b"], extra: Self.environment)
    let undo = try cli.run(["restore-file"], extra: Self.environment)
    let backB = try cli.run(["connect", "b"], extra: Self.environment)
    let noNewOne = try cli.run(["change-passphrase"], extra: Self.environment)
    let change = try cli.run(
      ["change-passphrase", "--kdf", "moderate"],
      extra: ["CWM_PROFILE_PASSPHRASE": Self.passphrase, "CWM_PROFILE_NEW_PASSPHRASE": "newer one"])
    let old = try cli.run(["connect", "a", "--force"], extra: Self.environment)
    let new = try cli.run(["connect", "a", "--force"], extra: newer)
    try FileManager.default.removeItem(atPath: cli.secretsFile)
    let missing = try cli.run(["connect", "a"], extra: newer)
    let addAfterLoss = try cli.add("c", server: server, extra: newer)

    #expect(dry.status == 0 && dry.stdout == "a/private-key\n", "\(dry.summary)")
    #expect(restore.status == 0, "\(restore.summary)")
    #expect(lostB.status == 27, "\(lostB.summary)")
    #expect(undo.status == 0 && undo.stdout == "a/private-key\nb/private-key\n")
    #expect(backB.status == 0, "\(backB.summary)")
    #expect(noNewOne.status == 10 && noNewOne.stderr.contains("--new-passphrase-fd"))
    #expect(change.status == 0, "\(change.summary)")
    #expect(old.status == 12, "\(old.summary)")
    #expect(new.status == 0, "\(new.summary)")
    #expect(missing.status == 17 && missing.stderrIsOneLine, "\(missing.summary)")
    #expect(addAfterLoss.status == 17, "\(addAfterLoss.summary)")
    #expect(!FileManager.default.fileExists(atPath: cli.secretsFile))
    #expect(try cli.storedProfiles()["c"] == nil)
  }
}

/// Exit statuses written from concurrent threads.
final class StatusList: @unchecked Sendable {
  private let lock = NSLock()
  private var values: [Int32]

  init(count: Int) { values = Array(repeating: -2, count: count) }

  func set(_ index: Int, _ value: Int32) { lock.withLock { values[index] = value } }

  var all: [Int32] { lock.withLock { values } }
}
