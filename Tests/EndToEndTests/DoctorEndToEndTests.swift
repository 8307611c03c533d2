import Foundation
import TestSupport
import Testing

/// `cwm-profile doctor` as a user runs it: headless with no bus at all, and
/// with a real GNOME keyring on a private D-Bus session, unlocked, locked
/// and hung.
@Suite(.serialized) struct DoctorEndToEndTests {
  static let passphrase = ["CWM_PROFILE_PASSPHRASE": "e2e passphrase" as String?]

  /// The keys of `doctor --json`, as `docs/commands.md` lists them.
  static let topKeys: Set = ["keyring", "auto", "file", "profiles", "profileListError", "problems"]
  static let keyringKeys: Set = ["state", "summary", "hint", "timeoutSeconds"]
  static let fileKeys: Set = [
    "path", "exists", "mode", "modeSafe", "folder", "folderMode", "folderModeSafe", "header",
    "headerProblem", "formatVersion", "kdf", "generation", "previousPath", "previousExists",
  ]

  /// Runs `doctor` twice and checks that both runs print the same bytes.
  func doctor(_ cli: CLIHarness, _ more: [String] = []) throws -> CLIResult {
    let first = try cli.run(["doctor"] + more)
    let second = try cli.run(["doctor"] + more)
    #expect(first.stdout == second.stdout, "two runs differ")
    #expect(first.status == second.status)
    return first
  }

  func addHeadless(_ cli: CLIHarness, _ name: String) throws {
    let added = try cli.run(
      [
        "add", name, "--server", "na.myconnectwise.net", "--company", "acme", "--client-id", "c",
        "--public-key", "PUB", "--store", "file",
      ], stdin: "PRIV\n", extra: Self.passphrase)
    #expect(added.status == 0, "\(added.summary)")
  }

  @Test func aFreshHeadlessHomeIsExplainedAndLeftAsItWas() throws {
    let cli = try CLIHarness()

    let result = try doctor(cli)

    #expect(result.status == 0, "\(result.summary)")
    #expect(result.stderr.isEmpty)
    #expect(result.stdout.contains("state:          no-session-bus"))
    #expect(result.stdout.contains("normal over SSH, in containers and in CI"))
    #expect(result.stdout.contains("choice:         encrypted file"))
    #expect(result.stdout.contains("exists:         no"))
    #expect(result.stdout.contains("none yet"))
    #expect(result.stdout.hasSuffix("No problems found.\n"))
    // GLib makes the (empty) cache folder when it looks for a bus without
    // XDG_RUNTIME_DIR; any file, or any folder of cwm-profile, is ours.
    let made = FileManager.default.subpaths(atPath: cli.home.path) ?? []
    let ours = made.filter {
      $0.contains("cwm-profile") || !isDirectory(cli.home.path + "/" + $0)
    }
    #expect(ours.isEmpty, "doctor created \(ours)")
  }

  @Test func theFileHeaderIsShownWithoutThePassphrase() throws {
    let cli = try CLIHarness()
    try addHeadless(cli, "beta")
    try addHeadless(cli, "acme")
    let before = FileManager.default.contents(atPath: cli.secretsFile)

    let result = try doctor(cli)

    #expect(result.status == 0, "\(result.summary)")
    for phrase in [
      "file mode:      0600 (owner only: safe)", "folder mode:    0700 (owner only: safe)",
      "format:         version 1", "Argon2id, 2 passes over 64 MiB (interactive)",
      "generation:     2", "previous:       yes, secrets.cwmsec.previous beside it",
      "  acme  encrypted file\n  beta  encrypted file\n", "No problems found.",
    ] {
      #expect(result.stdout.contains(phrase), "\(phrase)\n\(result.stdout)")
    }
    #expect(FileManager.default.contents(atPath: cli.secretsFile) == before)
  }

  @Test func unsafeModesAndADamagedHeaderAreProblemsNotFailures() throws {
    let cli = try CLIHarness()
    try addHeadless(cli, "acme")
    chmod(cli.secretsFile, 0o644)

    let open = try doctor(cli)
    var bytes = try #require(FileManager.default.contents(atPath: cli.secretsFile))
    bytes[9] = 7
    try bytes.write(to: URL(fileURLWithPath: cli.secretsFile))
    let newer = try doctor(cli)
    try Data("garbage".utf8).write(to: URL(fileURLWithPath: cli.secretsFile))
    let damaged = try doctor(cli)

    #expect(open.status == 0, "\(open.summary)")
    #expect(open.stdout.contains("0644 (others have access: unsafe)"))
    #expect(open.stdout.contains("1 problem found:"))
    #expect(newer.status == 0 && newer.stdout.contains("version 7, which this cwm-profile"))
    #expect(damaged.status == 0)
    #expect(damaged.stdout.contains("damaged: not a cwm-profile secrets file"))
    #expect(damaged.stdout.contains("profile acme: its secrets are in the encrypted file"))
  }

  @Test func jsonHasTheDocumentedKeys() throws {
    let cli = try CLIHarness()
    try addHeadless(cli, "acme")

    let result = try doctor(cli, ["--json"])

    #expect(result.status == 0, "\(result.summary)")
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    #expect(Set(object.keys) == Self.topKeys)
    let keyring = try #require(object["keyring"] as? [String: Any])
    #expect(Set(keyring.keys) == Self.keyringKeys)
    #expect(keyring["state"] as? String == "no-session-bus")
    #expect(keyring["timeoutSeconds"] as? Int == 10)
    let auto = try #require(object["auto"] as? [String: Any])
    #expect(Set(auto.keys) == ["store", "reason"] && auto["store"] as? String == "file")
    let file = try #require(object["file"] as? [String: Any])
    #expect(Set(file.keys) == Self.fileKeys)
    #expect(file["mode"] as? String == "0600" && file["modeSafe"] as? Bool == true)
    #expect(file["header"] as? String == "valid" && file["generation"] as? Int == 1)
    let kdf = try #require(file["kdf"] as? [String: Any])
    #expect(Set(kdf.keys) == ["algorithm", "opsLimit", "memoryKiB", "memoryMiB", "strength"])
    #expect(kdf["opsLimit"] as? Int == 2 && kdf["memoryMiB"] as? Int == 64)
    #expect(kdf["strength"] as? String == "interactive")
    let profiles = try #require(object["profiles"] as? [[String: Any]])
    #expect(profiles.map { Set($0.keys) } == [["name", "store", "problem"]])
    #expect(profiles.first?["store"] as? String == "file")
    #expect(object["profileListError"] is NSNull)
    #expect((object["problems"] as? [Any])?.isEmpty == true)
  }

  @Test func anUnlockedKeyringIsUsableAndChosen() throws {
    guard let keyring = try KeyringEndToEndTests.keyring() else { return }
    defer { keyring.stop() }
    let cli = try CLIHarness(base: keyring.environment)
    try cli.run(
      [
        "add", "acme", "--server", "na.myconnectwise.net", "--company", "acme", "--client-id", "c",
        "--public-key", "PUB",
      ], stdin: "PRIV\n")

    let result = try doctor(cli)

    #expect(result.status == 0, "\(result.summary)")
    #expect(result.stdout.contains("state:          usable"))
    #expect(result.stdout.contains("choice:         keyring"))
    #expect(result.stdout.contains("  acme  keyring\n"))
    #expect(result.stdout.hasSuffix("No problems found.\n"))
  }

  @Test func aLockedKeyringIsExplainedWithoutUnlockingIt() throws {
    guard let keyring = try KeyringEndToEndTests.keyring() else { return }
    defer { keyring.stop() }
    let cli = try CLIHarness(base: keyring.environment)
    try cli.run(
      [
        "add", "acme", "--server", "na.myconnectwise.net", "--company", "acme", "--client-id", "c",
        "--public-key", "PUB",
      ], stdin: "PRIV\n")
    try keyring.lock()

    let result = try doctor(cli)
    let json = try cli.run(["doctor", "--json"])

    #expect(result.status == 0, "\(result.summary)")
    #expect(result.stdout.contains("state:          locked"))
    #expect(result.stdout.contains("the default keyring is locked"))
    #expect(result.stdout.contains("run 'cwm-profile unlock' in the desktop session"))
    #expect(result.stdout.contains("choice:         none: add would stop with an error"))
    #expect(result.stdout.contains("2 problems found:"))
    #expect(result.stdout.contains("profile acme: its secrets are in the keyring"))
    #expect(json.stdout.contains("\"state\" : \"locked\""))
    #expect(json.stdout.contains("\"store\" : null"))
    #expect(try keyring.isLocked())
  }

  @Test func aHungKeyringIsReportedWithinTheTimeout() throws {
    guard let keyring = try KeyringEndToEndTests.keyring() else { return }
    defer { keyring.stop() }
    let cli = try CLIHarness(base: keyring.environment)
    cli.environment["CWM_PROFILE_KEYRING_TIMEOUT"] = "1"
    try keyring.suspendKeyring()
    defer { #expect(throws: Never.self) { try keyring.resumeKeyring() } }

    let result = try doctor(cli)

    #expect(result.status == 0, "\(result.summary)")
    #expect(result.elapsed < 5)
    #expect(result.stdout.contains("state:          timeout"))
    #expect(result.stdout.contains("did not answer within 1 s"))
    #expect(result.stdout.contains("CWM_PROFILE_KEYRING_TIMEOUT"))
  }
}

/// Whether `path` is a folder.
private func isDirectory(_ path: String) -> Bool {
  var flag: ObjCBool = false
  return FileManager.default.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
}
