import Foundation
import Testing

@testable import CWMProfile

/// Migration's order and its undo, over memory stores that can be told to
/// fail at one step. The same against the real keyring and file is in
/// `KeyringSecretStoreTests`, whose suite owns the shared keyring.
@Suite struct MigrateTests {
  let home: URL
  let paths: Paths
  let manager: ProfileManager
  let profile: Profile

  init() throws {
    home = FileManager.default.temporaryDirectory
      .appendingPathComponent("cwm-migrate-\(UUID().uuidString)")
    paths = Paths(
      configDirectory: home.path + "/config", dataDirectory: home.path + "/data",
      cacheDirectory: home.path + "/cache")
    manager = ProfileManager(
      profiles: ProfileStore(paths: paths),
      stores: SecretStores(
        paths: paths, passphrase: FixedPassphrase(SecretBytes(utf8: "pw")),
        probe: { _ in .unavailable(.noSessionBus(detail: "none in this test")) }),
      engine: ConnectEngine(), cache: ConnectionCache(paths: paths))
    profile = Profile(
      name: "acme", server: "na.myconnectwise.net", company: "acme", clientId: "cid",
      publicKey: "PUB", store: .file)
    try manager.profiles.add(profile)
  }

  func cleanUp() { try? FileManager.default.removeItem(at: home) }

  let privateKey = SecretKey(profile: "acme", kind: .privateKey)
  let token = SecretKey(profile: "acme", kind: .token)

  /// A source holding the private key and a token.
  func filledSource() throws -> FaultyStore {
    let source = FaultyStore()
    try source.write(SecretBytes(utf8: "PRIV"), for: privateKey, label: "l")
    try source.write(SecretBytes(utf8: "TOKEN"), for: token, label: "l")
    return source
  }

  func text(_ store: SecretStore, _ key: SecretKey) throws -> String? {
    try store.read(key)?.unsafeStringCopy()
  }

  @Test func movesEverySecretThenSwitchesTheProfileThenEmptiesTheSource() throws {
    defer { cleanUp() }
    let (source, target) = (try filledSource(), FaultyStore())
    let cached = ConnectionCache(paths: paths).path("acme")
    try AtomicFile.write(Array("{}".utf8), to: cached)

    let result = try manager.migrate(profile, from: source, to: target)
    let (sourceSteps, targetSteps) = (source.steps, target.steps)

    #expect(result.outcome == .moved)
    #expect(result.kinds == [.privateKey, .token])
    #expect(result.leftBehind == nil)
    #expect(try text(target, privateKey) == "PRIV")
    #expect(try text(target, token) == "TOKEN")
    #expect(try source.read(privateKey) == nil && source.read(token) == nil)
    #expect(try manager.profiles.profile(named: "acme").store == .memory)
    #expect(
      targetSteps == ["write private-key", "write token", "read private-key", "read token"])
    #expect(
      sourceSteps.suffix(3) == ["delete private-key", "delete password", "delete token"])
    #expect(!FileManager.default.fileExists(atPath: cached))
  }

  @Test func aFailedCopyLeavesTheSourceAndRemovesTheCopies() throws {
    defer { cleanUp() }
    let (source, target) = (try filledSource(), FaultyStore())
    target.failWrite = .token

    #expect(throws: SecretStoreError.keyringLocked) {
      try manager.migrate(profile, from: source, to: target)
    }

    #expect(try text(source, privateKey) == "PRIV" && text(source, token) == "TOKEN")
    #expect(try target.read(privateKey) == nil && target.read(token) == nil)
    #expect(try manager.profiles.profile(named: "acme").store == .file)
    #expect(!source.steps.contains { $0.hasPrefix("delete") })
  }

  @Test func aCopyThatReadsBackDifferentlyIsUndone() throws {
    defer { cleanUp() }
    let (source, target) = (try filledSource(), FaultyStore())
    target.alterRead = .privateKey

    let error = #expect(throws: SecretStoreError.self) {
      try manager.migrate(profile, from: source, to: target)
    }

    guard case .keyringFailed(let detail)? = error else {
      Issue.record("expected keyringFailed, got \(String(describing: error))")
      return
    }
    #expect(detail.contains("did not read back"))
    #expect(!detail.contains("PRIV"))
    #expect(try text(source, privateKey) == "PRIV")
    #expect(try target.read(privateKey) == nil && target.read(token) == nil)
    #expect(try manager.profiles.profile(named: "acme").store == .file)
  }

  @Test func aProfileListThatCannotBeUpdatedUndoesTheCopies() throws {
    defer { cleanUp() }
    let (source, target) = (try filledSource(), FaultyStore())
    try manager.profiles.remove(named: "acme")

    #expect(throws: ProfileError.changedMeanwhile(name: "acme")) {
      try manager.migrate(profile, from: source, to: target)
    }

    #expect(try text(source, privateKey) == "PRIV" && text(source, token) == "TOKEN")
    #expect(try target.read(privateKey) == nil && target.read(token) == nil)
  }

  @Test func aProfileChangedDuringTheMoveIsNotOverwritten() throws {
    defer { cleanUp() }
    let (source, target) = (try filledSource(), FaultyStore())
    var edited = profile
    edited.apiVersion = "2024.1"
    try manager.profiles.update(edited)

    #expect(throws: ProfileError.changedMeanwhile(name: "acme")) {
      try manager.migrate(profile, from: source, to: target)
    }

    #expect(try manager.profiles.profile(named: "acme") == edited)
    #expect(try text(source, privateKey) == "PRIV")
    #expect(try target.read(privateKey) == nil)
  }

  @Test func oldCopiesThatCannotBeDeletedAreReportedNotUndone() throws {
    defer { cleanUp() }
    let (source, target) = (try filledSource(), FaultyStore())
    source.failDelete = true

    let result = try manager.migrate(profile, from: source, to: target)

    #expect(result.outcome == .moved)
    #expect(result.leftBehind == .keyringLocked)
    #expect(try text(target, privateKey) == "PRIV")
    #expect(try manager.profiles.profile(named: "acme").store == .memory)
  }

  @Test func aSourceWithoutThePrivateKeyMovesNothing() throws {
    defer { cleanUp() }
    let (source, target) = (FaultyStore(), FaultyStore())
    try source.write(SecretBytes(utf8: "TOKEN"), for: token, label: "l")
    let missing = ConnectError.secretMissing(profile: "acme", kind: .privateKey, store: .memory)
    #expect(throws: missing) {
      try manager.migrate(profile, from: source, to: target)
    }

    #expect(target.steps.isEmpty)
    #expect(try text(source, token) == "TOKEN")
  }

  @Test func aProfileAlreadyInTheTargetIsSkippedWithoutReadingAnything() throws {
    defer { cleanUp() }

    let result = try manager.migrate(named: "acme", to: .file)

    #expect(result.outcome == .alreadyThere)
    #expect(result.kinds.isEmpty)
    #expect(!FileManager.default.fileExists(atPath: paths.secretsFile))
  }

  @Test func aDryRunReadsAndChangesNothing() throws {
    defer { cleanUp() }
    var keyringProfile = profile
    keyringProfile.name = "beta"
    keyringProfile.store = .keyring
    try manager.profiles.add(keyringProfile)
    // acme's secrets are in the file, as they would be.
    try manager.stores.store(.file).write(SecretBytes(utf8: "PRIV"), for: privateKey, label: "l")
    let before = try Data(contentsOf: URL(fileURLWithPath: paths.profilesFile))
    let secretsBefore = try Data(contentsOf: URL(fileURLWithPath: paths.secretsFile))

    let results = try manager.migrateAll(to: .file, dryRun: true)

    #expect(results.map(\.profile) == ["acme", "beta"])
    #expect(results.map(\.outcome) == [.alreadyThere, .planned])
    #expect(results[1].from == .keyring && results[1].to == .file)
    #expect(results[1].kinds == [.privateKey])
    #expect(results[1].optionalKinds == [.token])
    #expect(try Data(contentsOf: URL(fileURLWithPath: paths.profilesFile)) == before)
    #expect(try Data(contentsOf: URL(fileURLWithPath: paths.secretsFile)) == secretsBefore)
  }

  @Test func anUnusableKeyringTargetIsItsOwnErrorBeforeAnythingIsRead() throws {
    defer { cleanUp() }

    #expect(throws: SecretStoreError.noSessionBus(detail: "none in this test")) {
      try manager.migrate(named: "acme", to: .keyring, dryRun: true)
    }
    #expect(throws: SecretStoreError.noSessionBus(detail: "none in this test")) {
      try manager.migrateAll(to: .keyring)
    }
    #expect(try manager.profiles.profile(named: "acme").store == .file)
  }
}

/// A memory store that records each call and fails where it is told to.
final class FaultyStore: SecretStore, @unchecked Sendable {
  private let memory = MemorySecretStore()
  private let lock = NSLock()
  private var log: [String] = []
  /// Writing this kind throws `keyringLocked` (after nothing was stored).
  var failWrite: SecretKind?
  /// Reading this kind returns other bytes than were written.
  var alterRead: SecretKind?
  /// Every delete throws `keyringLocked`.
  var failDelete = false

  var kind: StoreKind { .memory }
  var steps: [String] { lock.withLock { log } }

  private func note(_ step: String, _ key: SecretKey) {
    lock.withLock { log.append("\(step) \(key.kind.rawValue)") }
  }

  func read(_ key: SecretKey) throws -> SecretBytes? {
    note("read", key)
    guard let value = try memory.read(key) else { return nil }
    return key.kind == alterRead ? value.appending(SecretBytes(utf8: "!")) : value
  }

  func write(_ secret: SecretBytes, for key: SecretKey, label: String) throws {
    note("write", key)
    if key.kind == failWrite { throw SecretStoreError.keyringLocked }
    try memory.write(secret, for: key, label: label)
  }

  @discardableResult
  func delete(_ key: SecretKey) throws -> Bool {
    note("delete", key)
    if failDelete { throw SecretStoreError.keyringLocked }
    return try memory.delete(key)
  }
}
