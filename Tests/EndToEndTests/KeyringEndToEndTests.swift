import CWMProfile
import Foundation
import TestSupport
import Testing

/// The built command with a real GNOME keyring on a private D-Bus session.
/// Skipped, with the reason, only when the daemons are not installed and
/// `CWM_REQUIRE_KEYRING` is not set; CI sets it.
@Suite(.serialized) struct KeyringEndToEndTests {
  static func keyring() throws -> PrivateSecretService? {
    guard PrivateSecretService.isAvailable else {
      if PrivateSecretService.isRequired {
        Issue.record("CWM_REQUIRE_KEYRING=1 but dbus-daemon or gnome-keyring-daemon is missing")
      }
      return nil
    }
    return try PrivateSecretService.start()
  }

  @Test func autoPicksTheKeyringAndConnects() throws {
    guard let keyring = try Self.keyring() else { return }
    defer { keyring.stop() }
    let server = try StandInServer()
    let cli = try CLIHarness(base: keyring.environment)

    let added = try cli.add("acme", server: server)
    let connected = try cli.run(["connect", "acme", "--format", "json"])
    let search = try keyring.run(
      "secret-tool", ["search", "--all", "application", "cwm-profile", "profile", "acme"]
    ).output

    #expect(added.status == 0, "\(added.summary)")
    #expect(!added.stderr.contains("encrypted file"))
    #expect(connected.status == 0, "\(connected.summary)")
    #expect(connected.stdout.contains(Data("acme+PUB:PRIV".utf8).base64EncodedString()))
    let stored = try #require(try cli.storedProfiles()["acme"] as? [String: Any])
    #expect(stored["store"] as? String == "keyring")
    #expect(!FileManager.default.fileExists(atPath: cli.secretsFile))
    #expect(search.contains("attribute.kind = private-key"), "\(search)")
    #expect(search.contains("label = cwm-profile acme"), "\(search)")
  }

  @Test func removeDeletesTheKeyringItem() throws {
    guard let keyring = try Self.keyring() else { return }
    defer { keyring.stop() }
    let server = try StandInServer()
    let cli = try CLIHarness(base: keyring.environment)
    try cli.add("acme", server: server)

    let removed = try cli.run(["remove", "acme"])
    let search = try keyring.run(
      "secret-tool", ["search", "--all", "application", "cwm-profile", "profile", "acme"]
    ).output

    #expect(removed.status == 0, "\(removed.summary)")
    #expect(!search.contains("cwm-profile acme"), "\(search)")
  }

  @Test func aLockedKeyringIsReportedAndNothingIsLostOrReplaced() throws {
    guard let keyring = try Self.keyring() else { return }
    defer { keyring.stop() }
    let server = try StandInServer()
    let cli = try CLIHarness(base: keyring.environment)
    try cli.add("acme", server: server)
    try keyring.lock()

    let connect = try cli.run(["connect", "acme"])
    let remove = try cli.run(["remove", "acme"])
    let add = try cli.add("beta", server: server)

    for result in [connect, remove, add] {
      #expect(result.status == 23, "\(result.summary)")
      #expect(result.stderr.contains("locked"))
      #expect(result.stderrIsOneLine)
    }
    #expect(Set(try cli.storedProfiles().keys) == ["acme"])
    #expect(!FileManager.default.fileExists(atPath: cli.secretsFile))
    try keyring.unlock()
    let after = try cli.run(["connect", "acme"])
    #expect(after.status == 0, "\(after.summary)")
  }

  @Test func withoutAnyBusAutoFallsBackToTheFileAndSaysSo() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    let passphrase = ["CWM_PROFILE_PASSPHRASE": "pw" as String?]

    let auto = try cli.add("acme", server: server, extra: passphrase)
    let forced = try cli.add(
      "beta", server: server, more: ["--store", "keyring"], extra: passphrase)

    #expect(auto.status == 0, "\(auto.summary)")
    #expect(auto.stderr.contains("no D-Bus session bus"))
    #expect(forced.status == 20, "\(forced.summary)")
    #expect(Set(try cli.storedProfiles().keys) == ["acme"])
  }

  @Test func aStoppedDaemonIsNeverTakenForAMissingSecret() throws {
    guard let keyring = try Self.keyring() else { return }
    defer { keyring.stop() }
    let server = try StandInServer()
    let cli = try CLIHarness(base: keyring.environment)
    try cli.add("acme", server: server)
    try keyring.stopKeyring()

    // The bus starts a new daemon on demand; its login keyring comes up
    // locked, since nobody typed the password.
    let connect = try cli.run(["connect", "acme"])
    let remove = try cli.run(["remove", "acme"])
    let add = try cli.add("beta", server: server)
    try keyring.adoptServiceOwner()

    for result in [connect, remove, add] {
      #expect([21, 23].contains(result.status), "\(result.summary)")
      #expect(result.stderrIsOneLine, "\(result.summary)")
    }
    #expect(Set(try cli.storedProfiles().keys) == ["acme"])
    #expect(!FileManager.default.fileExists(atPath: cli.secretsFile))
    try keyring.unlock()
    let after = try cli.run(["connect", "acme"])
    #expect(after.status == 0, "\(after.summary)")
  }

  @Test func aBusWithoutASecretServiceIsNamedAndAutoUsesTheFile() throws {
    guard PrivateSecretService.shouldRun else { return }
    let bus = try PrivateSecretService.start(keyring: false)
    defer { bus.stop() }
    let server = try StandInServer()
    let cli = try CLIHarness(base: bus.environment)
    let passphrase = ["CWM_PROFILE_PASSPHRASE": "pw" as String?]

    let forced = try cli.add("acme", server: server, more: ["--store", "keyring"])
    let auto = try cli.add("beta", server: server, extra: passphrase)

    #expect(forced.status == 21, "\(forced.summary)")
    #expect(forced.stderr.contains("no Secret Service") && forced.stderrIsOneLine)
    #expect(auto.status == 0, "\(auto.summary)")
    #expect(auto.stderr.contains("no Secret Service"))
    #expect(Set(try cli.storedProfiles().keys) == ["beta"])
  }

  @Test func unlockTellsADismissedPromptFromAnUnlockedKeyring() throws {
    guard let keyring = try Self.keyring() else { return }
    defer { keyring.stop() }
    let cli = try CLIHarness(base: keyring.environment)

    let already = try cli.run(["unlock"])
    try keyring.lock()
    // With no desktop the keyring cannot show its prompt and reports it as
    // dismissed, exactly as when a person closes it.
    let dismissed = try cli.run(["unlock", "--timeout", "20"])

    #expect(already.status == 0 && already.stderr.contains("already unlocked"))
    #expect(dismissed.status == 25, "\(dismissed.summary)")
    #expect(dismissed.stderr.contains("dismissed") && dismissed.stderrIsOneLine)
    #expect(try keyring.isLocked())
  }

  @Test func removeAlsoClearsACopyAnInterruptedMigrationLeftInTheFile() throws {
    guard let keyring = try Self.keyring() else { return }
    defer { keyring.stop() }
    let server = try StandInServer()
    let cli = try CLIHarness(base: keyring.environment)
    let passphrase = ["CWM_PROFILE_PASSPHRASE": "pw" as String?]
    try cli.add("acme", server: server)
    try cli.add("other", server: server, more: ["--store", "file"], extra: passphrase)
    // What `migrate acme --to file` leaves when killed before the switch.
    let file = EncryptedFileStore(
      path: cli.secretsFile, passphrase: FixedPassphrase(SecretBytes(utf8: "pw")))
    try file.write(
      SecretBytes(utf8: "PRIV"), for: SecretKey(profile: "acme", kind: .privateKey), label: "l")

    let removed = try cli.run(["remove", "acme"], extra: passphrase)

    #expect(removed.status == 0, "\(removed.summary)")
    #expect(try file.entryNames() == ["other/private-key"])
  }
}
