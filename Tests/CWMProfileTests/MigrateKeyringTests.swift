import Foundation
import Testing

@testable import CWMProfile

/// Migration between the real keyring and the real encrypted file. These
/// belong to `KeyringSecretStoreTests` so that they run serialized with its
/// tests, which lock the keyring the whole process shares.
extension KeyringSecretStoreTests {
  /// A manager over a temporary home and the shared keyring, with a
  /// profile of a name no other test uses, its private key in `store`.
  struct Setup {
    let home: URL
    let paths: Paths
    let manager: ProfileManager
    let profile: Profile
    let file: EncryptedFileStore

    init(store: StoreKind, passphrase: String = "pw") throws {
      home = FileManager.default.temporaryDirectory
        .appendingPathComponent("cwm-migrate-keyring-\(UUID().uuidString)")
      paths = Paths(
        configDirectory: home.path + "/config", dataDirectory: home.path + "/data",
        cacheDirectory: home.path + "/cache")
      manager = ProfileManager(
        profiles: ProfileStore(paths: paths),
        stores: SecretStores(
          paths: paths, passphrase: FixedPassphrase(SecretBytes(utf8: passphrase))),
        engine: ConnectEngine(), cache: ConnectionCache(paths: paths))
      profile = Profile(
        name: "mig-\(UUID().uuidString.prefix(8).lowercased())", server: "na.myconnectwise.net",
        company: "acme", clientId: "cid", publicKey: "PUB", store: store)
      file = EncryptedFileStore(
        path: paths.secretsFile, passphrase: FixedPassphrase(SecretBytes(utf8: "pw")))
      try manager.add(profile, secret: SecretBytes(utf8: "PRIV-\(profile.name)"))
    }

    var key: SecretKey { profile.primarySecret }
    var tokenKey: SecretKey { SecretKey(profile: profile.name, kind: .token) }
    var expected: String { "PRIV-\(profile.name)" }

    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    func cleanUp() {
      for kind in SecretKind.allCases {
        _ = try? KeyringSecretStore().delete(SecretKey(profile: profile.name, kind: kind))
      }
      try? FileManager.default.removeItem(at: home)
    }
  }

  private func plain(_ secret: SecretBytes?) -> String? { secret?.unsafeStringCopy() }

  @Test func migratesFromTheFileToTheKeyring() throws {
    let setup = try Setup(store: .file)
    defer { setup.cleanUp() }
    try setup.file.write(SecretBytes(utf8: "TOKEN"), for: setup.tokenKey, label: "t")

    let result = try setup.manager.migrate(named: setup.profile.name, to: .keyring)

    #expect(result.outcome == .moved && result.kinds == [.privateKey, .token])
    #expect(plain(try store.read(setup.key)) == setup.expected)
    #expect(plain(try store.read(setup.tokenKey)) == "TOKEN")
    let reopened = EncryptedFileStore(
      path: setup.file.path, passphrase: FixedPassphrase(SecretBytes(utf8: "pw")))
    #expect(try reopened.entryNames().isEmpty)
    #expect(try setup.manager.profiles.profile(named: setup.profile.name).store == .keyring)
  }

  @Test func migratesFromTheKeyringToTheFile() throws {
    let setup = try Setup(store: .keyring)
    defer { setup.cleanUp() }

    let result = try setup.manager.migrate(named: setup.profile.name, to: .file)

    #expect(result.outcome == .moved && result.kinds == [.privateKey])
    #expect(plain(try setup.file.read(setup.key)) == setup.expected)
    #expect(try setup.file.entryNames() == [setup.key.description])
    #expect(try store.read(setup.key) == nil)
    #expect(try setup.manager.profiles.profile(named: setup.profile.name).store == .file)
  }

  @Test func aLockedKeyringTargetLeavesTheFileAndTheProfileListAsTheyWere() throws {
    let setup = try Setup(store: .file)
    defer { setup.cleanUp() }
    let profilesFile = setup.paths.profilesFile
    let (profilesBefore, secretsBefore) = (setup.bytes(profilesFile), setup.bytes(setup.file.path))
    #expect(profilesBefore != nil && secretsBefore != nil)
    try keyring.lock()
    defer { #expect(throws: Never.self) { try keyring.unlock() } }

    // Through the command's path, which checks the target first, and
    // straight at the copy step, which meets the lock on its first write.
    #expect(throws: SecretStoreError.keyringLocked) {
      try setup.manager.migrate(named: setup.profile.name, to: .keyring)
    }
    #expect(throws: SecretStoreError.keyringLocked) {
      try setup.manager.migrate(setup.profile, from: setup.file, to: KeyringSecretStore())
    }

    #expect(setup.bytes(profilesFile) == profilesBefore)
    #expect(setup.bytes(setup.file.path) == secretsBefore)
    #expect(plain(try setup.file.read(setup.key)) == setup.expected)
  }

  @Test func aFileTargetWithAnotherPassphraseLeavesTheKeyringItem() throws {
    let other = try Setup(store: .file, passphrase: "pw")
    defer { other.cleanUp() }
    let setup = try Setup(store: .keyring, passphrase: "not the file's")
    defer { setup.cleanUp() }
    try FileManager.default.createDirectory(
      atPath: setup.paths.dataDirectory, withIntermediateDirectories: true,
      attributes: [.posixPermissions: 0o700])
    try FileManager.default.copyItem(atPath: other.file.path, toPath: setup.file.path)
    let secretsBefore = setup.bytes(setup.file.path)
    #expect(secretsBefore != nil)

    #expect(throws: SecretStoreError.wrongPassphrase(path: setup.file.path)) {
      try setup.manager.migrate(named: setup.profile.name, to: .file)
    }

    #expect(plain(try store.read(setup.key)) == setup.expected)
    #expect(setup.bytes(setup.file.path) == secretsBefore)
    #expect(try setup.manager.profiles.profile(named: setup.profile.name).store == .keyring)
  }
}
