import Foundation
import TestSupport
import Testing

/// `cwm-profile migrate` between a real GNOME keyring on a private D-Bus
/// session and the encrypted file, checked from outside: the profile
/// list, `secret-tool`, the file's bytes, and connecting to the stand-in.
@Suite(.serialized) struct MigrateEndToEndTests {
  static let passphrase = ["CWM_PROFILE_PASSPHRASE": "e2e passphrase" as String?]

  /// The keyring items of `profile`, as `secret-tool` lists them.
  func items(_ keyring: PrivateSecretService, _ profile: String) throws -> String {
    try keyring.run(
      "secret-tool", ["search", "--all", "application", "cwm-profile", "profile", profile]
    ).output
  }

  func stores(_ cli: CLIHarness) throws -> [String: String] {
    try cli.storedProfiles().compactMapValues { ($0 as? [String: Any])?["store"] as? String }
  }

  func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

  @Test func aDryRunReadsAndChangesNothing() throws {
    guard let keyring = try KeyringEndToEndTests.keyring() else { return }
    defer { keyring.stop() }
    let server = try StandInServer()
    let cli = try CLIHarness(base: keyring.environment)
    try cli.add("acme", server: server, more: ["--store", "file"], extra: Self.passphrase)
    try cli.add("beta", server: server, more: ["--store", "file"], extra: Self.passphrase)
    try cli.add("gamma", server: server)
    let (profiles, secrets) = (bytes(cli.profilesFile), bytes(cli.secretsFile))

    // No passphrase: reading a secret from the file would fail with 10.
    let result = try cli.run(["migrate", "--all", "--to", "keyring", "--dry-run"])
    let single = try cli.run(["migrate", "acme", "--to", "keyring", "--dry-run"])

    #expect(result.status == 0, "\(result.summary)")
    #expect(
      result.stdout == """
        would move acme: private-key (and token if present): encrypted file -> keyring
        would move beta: private-key (and token if present): encrypted file -> keyring

        """)
    #expect(result.stderr.contains("'gamma' is already in the keyring; skipped"))
    #expect(single.status == 0 && single.stdout.hasPrefix("would move acme: "), "\(single.summary)")
    #expect(bytes(cli.profilesFile) == profiles)
    #expect(bytes(cli.secretsFile) == secrets)
    #expect(!(try items(keyring, "acme")).contains("cwm-profile acme"))
  }

  @Test func migratesEveryProfileToTheKeyringAndBack() throws {
    guard let keyring = try KeyringEndToEndTests.keyring() else { return }
    defer { keyring.stop() }
    let server = try StandInServer()
    let cli = try CLIHarness(base: keyring.environment)
    try cli.add("acme", server: server, more: ["--store", "file"], extra: Self.passphrase)
    try cli.add("beta", server: server, more: ["--store", "file"], extra: Self.passphrase)
    let cached = try cli.run(["connect", "acme"], extra: Self.passphrase)
    #expect(cached.status == 0, "\(cached.summary)")

    let toKeyring = try cli.run(["migrate", "--all", "--to", "keyring"], extra: Self.passphrase)
    let inKeyring = try stores(cli)
    let acmeItems = try items(keyring, "acme")
    let connectFromKeyring = try cli.run(["connect", "beta"])
    let toFile = try cli.run(["migrate", "--all", "--to", "file"], extra: Self.passphrase)
    let connectFromFile = try cli.run(["connect", "acme"], extra: Self.passphrase)
    let withoutPassphrase = try cli.run(["connect", "beta", "--force"])

    #expect(toKeyring.status == 0, "\(toKeyring.summary)")
    #expect(toKeyring.stderr.contains("moved 'acme' (private-key, token) from the encrypted file"))
    #expect(toKeyring.stderr.contains("moved 'beta' (private-key) from the encrypted file"))
    #expect(inKeyring == ["acme": "keyring", "beta": "keyring"])
    #expect(acmeItems.contains("attribute.kind = private-key"), "\(acmeItems)")
    #expect(connectFromKeyring.status == 0, "\(connectFromKeyring.summary)")
    #expect(toFile.status == 0, "\(toFile.summary)")
    #expect(try stores(cli) == ["acme": "file", "beta": "file"])
    #expect(!(try items(keyring, "acme")).contains("cwm-profile acme"))
    #expect(!(try items(keyring, "beta")).contains("cwm-profile beta"))
    #expect(connectFromFile.status == 0, "\(connectFromFile.summary)")
    #expect(withoutPassphrase.status == 10, "\(withoutPassphrase.summary)")
  }

  @Test func aSingleProfileAlreadyThereIsSkippedWithSuccess() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, extra: Self.passphrase)
    let before = bytes(cli.secretsFile)

    let result = try cli.run(["migrate", "acme", "--to", "file"])

    #expect(result.status == 0, "\(result.summary)")
    #expect(result.stderr == "cwm-profile: 'acme' is already in the encrypted file; skipped\n")
    #expect(bytes(cli.secretsFile) == before)
  }

  @Test func aLockedKeyringStopsTheMoveWithItsOwnCode() throws {
    guard let keyring = try KeyringEndToEndTests.keyring() else { return }
    defer { keyring.stop() }
    let server = try StandInServer()
    let cli = try CLIHarness(base: keyring.environment)
    try cli.add("acme", server: server, more: ["--store", "file"], extra: Self.passphrase)
    let (profiles, secrets) = (bytes(cli.profilesFile), bytes(cli.secretsFile))
    try keyring.lock()

    let result = try cli.run(["migrate", "acme", "--to", "keyring"], extra: Self.passphrase)

    #expect(result.status == 23, "\(result.summary)")
    #expect(result.stderrIsOneLine && result.stderr.contains("locked"))
    #expect(bytes(cli.profilesFile) == profiles)
    #expect(bytes(cli.secretsFile) == secrets)
    try keyring.unlock()
    #expect(!(try items(keyring, "acme")).contains("cwm-profile acme"))
  }

  @Test func withoutABusTheKeyringTargetIsRefused() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, extra: Self.passphrase)

    let result = try cli.run(["migrate", "--all", "--to", "keyring"], extra: Self.passphrase)

    #expect(result.status == 20, "\(result.summary)")
    #expect(result.stderrIsOneLine)
    #expect(try stores(cli) == ["acme": "file"])
  }

  @Test func badArgumentsAreUsageErrors() throws {
    let cli = try CLIHarness()

    let cases: [([String], Int32)] = [
      (["migrate", "acme"], 2), (["migrate", "--to", "file"], 2),
      (["migrate", "acme", "--all", "--to", "file"], 2),
      (["migrate", "acme", "--to", "memory"], 2), (["migrate", "acme", "--to", "cloud"], 2),
      (["migrate", "nope", "--to", "file"], 3),
    ]
    for (arguments, status) in cases {
      let result = try cli.run(arguments)
      #expect(result.status == status, "\(arguments): \(result.summary)")
      #expect(result.stdout.isEmpty, "\(arguments)")
    }
    let help = try cli.run(["migrate", "--help"])
    #expect(help.stdout.hasPrefix("Usage: cwm-profile migrate NAME --to keyring|file"))
  }
}
