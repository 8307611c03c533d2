import Foundation
import Testing

@testable import CWMProfile

/// The diagnosis over an injected keyring probe and real files in a
/// temporary home; the probe against a real keyring is covered end to end.
@Suite struct StoreDiagnosisTests {
  let home: URL
  let paths: Paths

  init() throws {
    home = FileManager.default.temporaryDirectory
      .appendingPathComponent("cwm-doctor-\(UUID().uuidString)")
    paths = Paths(
      configDirectory: home.path + "/config", dataDirectory: home.path + "/data",
      cacheDirectory: home.path + "/cache")
  }

  func cleanUp() { try? FileManager.default.removeItem(at: home) }

  func examine(_ status: KeyringStatus) -> Diagnosis {
    Diagnosis.examine(paths: paths, keyringTimeout: 3) { _ in status }
  }

  func addProfile(_ name: String, store: StoreKind) throws {
    try ProfileStore(paths: paths).add(
      Profile(
        name: name, server: "na.myconnectwise.net", company: "acme", clientId: "cid",
        publicKey: "PUB", store: store))
  }

  func writeSecret(strength: KeyDerivationStrength = .interactive) throws {
    let store = EncryptedFileStore(
      path: paths.secretsFile, passphrase: FixedPassphrase(SecretBytes(utf8: "pw")),
      strength: strength)
    try store.write(
      SecretBytes(utf8: "PRIV"), for: SecretKey(profile: "acme", kind: .privateKey), label: "l")
  }

  @Test func aFreshHeadlessHomeHasNoProblemsAndIsLeftUntouched() throws {
    defer { cleanUp() }

    let diagnosis = examine(.unavailable(.noSessionBus(detail: "not set")))

    #expect(diagnosis.keyring.state == "no-session-bus")
    #expect(diagnosis.auto.store == .file)
    #expect(diagnosis.auto.error == nil)
    #expect(diagnosis.file.header == .missing)
    #expect(!diagnosis.file.exists && !diagnosis.file.previousExists)
    #expect(diagnosis.profiles.isEmpty && diagnosis.profileListError == nil)
    #expect(diagnosis.problems.isEmpty)
    #expect(!FileManager.default.fileExists(atPath: home.path))
  }

  @Test func everyKeyringStateHasItsOwnNameAndAHint() {
    let statuses: [KeyringStatus] = [
      .available, .unavailable(.noSessionBus(detail: "x")),
      .unavailable(.noSecretService(detail: "x")), .unavailable(.noDefaultCollection),
      .unavailable(.keyringLocked), .unavailable(.keyringTimeout(seconds: 3)),
      .unavailable(.promptDismissed), .unavailable(.keyringFailed(detail: "boom")),
    ]

    let keyrings = statuses.map { Diagnosis.Keyring(status: $0, timeout: 3) }

    #expect(
      keyrings.map(\.state) == [
        "usable", "no-session-bus", "no-secret-service", "no-default-keyring", "locked",
        "timeout", "prompt-dismissed", "failed",
      ])
    #expect(Set(keyrings.map(\.summary)).count == statuses.count)
    #expect(keyrings.allSatisfy { !$0.hint.isEmpty })
    #expect(keyrings[5].summary.contains("within 3 s"))
    #expect(keyrings[5].hint.contains("CWM_PROFILE_KEYRING_TIMEOUT"))
    #expect(keyrings[7].summary.contains("boom"))
  }

  @Test func autoFollowsTheSameRuleAsAdd() {
    defer { cleanUp() }

    let usable = examine(.available).auto
    let noService = examine(.unavailable(.noSecretService(detail: "x"))).auto
    let locked = examine(.unavailable(.keyringLocked)).auto
    let slow = examine(.unavailable(.keyringTimeout(seconds: 3))).auto

    #expect(usable.store == .keyring)
    #expect(noService.store == .file)
    #expect(locked.store == nil && locked.error == .keyringLocked)
    #expect(locked.reason.contains("never falls back"))
    #expect(slow.store == nil && slow.error == .keyringTimeout(seconds: 3))
  }

  @Test func aLockedKeyringIsAProblemForItsProfilesOnly() throws {
    defer { cleanUp() }
    try addProfile("zeta", store: .keyring)
    try addProfile("acme", store: .file)
    try writeSecret()

    let diagnosis = examine(.unavailable(.keyringLocked))

    #expect(diagnosis.profiles.map(\.name) == ["acme", "zeta"])
    #expect(diagnosis.profiles.map(\.store) == [.file, .keyring])
    #expect(diagnosis.profiles[0].problem == nil)
    #expect(diagnosis.profiles[1].problem?.contains("locked") == true)
    #expect(diagnosis.problems.count == 2)
    #expect(diagnosis.problems[0].hasPrefix("keyring: "))
    #expect(diagnosis.problems[1].hasPrefix("profile zeta: "))
  }

  @Test func theHeaderIsReadWithoutThePassphrase() throws {
    defer { cleanUp() }
    try writeSecret()
    try writeSecret()
    let before = try Data(contentsOf: URL(fileURLWithPath: paths.secretsFile))

    let file = examine(.available).file

    guard case .valid(let header) = file.header else {
      Issue.record("expected a valid header, got \(file.header)")
      return
    }
    #expect(header.formatVersion == 1)
    #expect(header.opsLimit == 2 && header.memoryMiB == 64 && header.memoryKiB == 65536)
    #expect(header.strength == .interactive)
    #expect(header.generation == 2)
    #expect(file.previousExists)
    #expect(file.fileMode == 0o600 && file.directoryMode == 0o700)
    #expect(file.problems.isEmpty)
    #expect(try Data(contentsOf: URL(fileURLWithPath: paths.secretsFile)) == before)
  }

  @Test func theNamedStrengthsAreRecognisedExactly() {
    #expect(KeyDerivationStrength(opsLimit: 2, memoryKiB: 65536) == .interactive)
    #expect(KeyDerivationStrength(opsLimit: 3, memoryKiB: 262_144) == .moderate)
    #expect(KeyDerivationStrength(opsLimit: 4, memoryKiB: 1_048_576) == .sensitive)
    #expect(KeyDerivationStrength(opsLimit: 3, memoryKiB: 65536) == nil)
    #expect(KeyDerivationStrength(opsLimit: 2, memoryKiB: 65535) == nil)
  }

  @Test func openedUpPermissionsAreProblems() throws {
    defer { cleanUp() }
    try writeSecret()
    chmod(paths.secretsFile, 0o644)
    chmod(paths.dataDirectory, 0o755)

    let file = examine(.available).file

    #expect(file.fileMode == 0o644 && file.directoryMode == 0o755)
    #expect(!EncryptedFileInspection.isOwnerOnly(0o644))
    #expect(file.problems.count == 2)
    #expect(file.problems[0].contains("mode 0644"))
    #expect(file.problems[1].contains("mode 0755"))
  }

  @Test func aDamagedOrNewerHeaderIsNamed() throws {
    defer { cleanUp() }
    try writeSecret()
    let original = try #require(try AtomicFile.read(paths.secretsFile))
    func inspect(_ bytes: [UInt8]) throws -> EncryptedFileInspection.HeaderState {
      try AtomicFile.write(bytes, to: paths.secretsFile)
      return EncryptedFileStore.inspect(path: paths.secretsFile).header
    }
    var newer = original
    newer[9] = 2
    var flipped = original
    flipped[20] ^= 0x01

    #expect(try inspect(newer) == .unsupportedVersion(2))
    #expect(try inspect(flipped) == .damaged(reason: "header checksum does not match"))
    #expect(try inspect(Array(original[0..<40])) == .damaged(reason: "the file is truncated"))
    #expect(
      try inspect(Array("not ours at all".utf8))
        == .damaged(reason: "not a cwm-profile secrets file"))
    #expect(EncryptedFileStore.inspect(path: paths.secretsFile).problems.count == 1)
  }

  @Test func aProfileInAMissingFileIsAProblem() throws {
    defer { cleanUp() }
    try addProfile("acme", store: .file)

    let diagnosis = examine(.unavailable(.noSessionBus(detail: "x")))

    #expect(diagnosis.profiles.first?.problem?.contains("does not exist") == true)
    #expect(diagnosis.problems == ["profile acme: \(diagnosis.profiles[0].problem!)"])
  }

  @Test func aDamagedProfileListIsReportedNotThrown() throws {
    defer { cleanUp() }
    try FileManager.default.createDirectory(
      atPath: paths.configDirectory, withIntermediateDirectories: true)
    try Data("{".utf8).write(to: URL(fileURLWithPath: paths.profilesFile))

    let diagnosis = examine(.available)

    guard case .fileDamaged? = diagnosis.profileListError else {
      Issue.record("expected fileDamaged, got \(String(describing: diagnosis.profileListError))")
      return
    }
    #expect(diagnosis.problems.count == 1)
  }

  @Test func theSameStateGivesTheSameDiagnosis() throws {
    defer { cleanUp() }
    try addProfile("beta", store: .keyring)
    try addProfile("acme", store: .file)
    try writeSecret()

    let first = examine(.unavailable(.keyringTimeout(seconds: 3)))
    let second = examine(.unavailable(.keyringTimeout(seconds: 3)))

    #expect(first == second)
    #expect(first.problems == second.problems)
  }
}
