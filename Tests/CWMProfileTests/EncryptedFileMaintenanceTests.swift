import Foundation
import Testing

@testable import CWMProfile

/// Changing the passphrase, restoring the previous generation, and what a
/// killed writer leaves behind.
@Suite struct EncryptedFileMaintenanceTests {
  let directory: URL
  let key = SecretKey(profile: "acme", kind: .privateKey)
  let other = SecretKey(profile: "beta", kind: .password)
  var path: String { directory.path + "/secrets.cwmsec" }

  init() throws {
    directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("cwm-maint-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
  }

  func store(_ passphrase: String = "old one") -> EncryptedFileStore {
    EncryptedFileStore(path: path, passphrase: FixedPassphrase(SecretBytes(utf8: passphrase)))
  }

  func passphrase(_ text: String) -> FixedPassphrase { FixedPassphrase(SecretBytes(utf8: text)) }

  func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

  func cleanUp() { try? FileManager.default.removeItem(at: directory) }

  @Test func aNewPassphraseOpensTheSameEntriesAndTheOldOneNothing() throws {
    defer { cleanUp() }
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    try store().write(SecretBytes(utf8: "PW"), for: other, label: "l")
    let saltBefore = try SecretsFileFormat.parseHeader(Array(bytes(path))).salt

    let count = try store().changePassphrase(to: passphrase("new one"), strength: .moderate)
    let header = try SecretsFileFormat.parseHeader(Array(bytes(path)))

    #expect(count == 2)
    #expect(try store("new one").read(key)?.unsafeStringCopy() == "PRIV")
    #expect(try store("new one").read(other)?.unsafeStringCopy() == "PW")
    #expect(throws: SecretStoreError.wrongPassphrase(path: path)) { try store().read(key) }
    #expect(header.salt != saltBefore)
    #expect(header.memLimitKiB == 256 * 1024)
    #expect(!FileManager.default.fileExists(atPath: path + ".previous"))
  }

  @Test func aWrongCurrentPassphraseChangesNothing() throws {
    defer { cleanUp() }
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    let before = try bytes(path)

    #expect(throws: SecretStoreError.wrongPassphrase(path: path)) {
      try store("guess").changePassphrase(to: passphrase("new one"))
    }
    #expect(try bytes(path) == before)
    #expect(try store().read(key)?.unsafeStringCopy() == "PRIV")
  }

  @Test func changingWithoutAFileSaysItIsMissing() throws {
    defer { cleanUp() }

    #expect(throws: SecretStoreError.fileMissing(path: path)) {
      try store().changePassphrase(to: passphrase("new one"))
    }
    #expect(!FileManager.default.fileExists(atPath: path))
  }

  @Test func restoringPutsThePreviousGenerationBackAndCanBeUndone() throws {
    defer { cleanUp() }
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    try store().write(SecretBytes(utf8: "PW"), for: other, label: "l")
    let newest = try bytes(path)
    let older = try bytes(path + ".previous")

    let dry = try store().restorePrevious(dryRun: true)
    let unchanged = try bytes(path)
    let restored = try store().restorePrevious()

    #expect(dry == ["acme/private-key"])
    #expect(unchanged == newest)
    #expect(restored == ["acme/private-key"])
    #expect(try bytes(path) == older)
    #expect(try bytes(path + ".previous") == newest)
    #expect(try store().read(other) == nil)
    #expect(try store().restorePrevious() == ["acme/private-key", "beta/password"])
    #expect(try store().read(other)?.unsafeStringCopy() == "PW")
  }

  @Test func aPreviousGenerationThatDoesNotOpenIsNotRestored() throws {
    defer { cleanUp() }
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    try store().write(SecretBytes(utf8: "PW"), for: other, label: "l")
    var damaged = try bytes(path + ".previous")
    damaged[damaged.count - 1] ^= 0x01
    try damaged.write(to: URL(fileURLWithPath: path + ".previous"))
    let current = try bytes(path)

    #expect(throws: SecretStoreError.self) { try store().restorePrevious() }
    #expect(throws: SecretStoreError.wrongPassphrase(path: path + ".previous")) {
      try store("guess").restorePrevious()
    }
    #expect(try bytes(path) == current)
  }

  @Test func withoutAPreviousGenerationThereIsNothingToRestore() throws {
    defer { cleanUp() }
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")

    #expect(throws: SecretStoreError.noPreviousGeneration(path: path + ".previous")) {
      try store().restorePrevious()
    }
  }

  @Test func strayTemporaryFilesOfDeadWritersAreRemovedOnTheNextWrite() throws {
    defer { cleanUp() }
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    // PID 1 never writes here but is alive: its file must stay. A PID far
    // above pid_max is certainly dead.
    let dead = path + ".tmp-2147483646-12345"
    let alive = path + ".tmp-1-12345"
    try Data("half-written".utf8).write(to: URL(fileURLWithPath: dead))
    try Data("in progress".utf8).write(to: URL(fileURLWithPath: alive))

    try store().write(SecretBytes(utf8: "PW"), for: other, label: "l")

    #expect(!FileManager.default.fileExists(atPath: dead))
    #expect(FileManager.default.fileExists(atPath: alive))
    #expect(try store().read(key)?.unsafeStringCopy() == "PRIV")
  }

  @Test func aWriterKilledDuringItsCommitLosesNoGeneration() throws {
    defer { cleanUp() }
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    try store().write(SecretBytes(utf8: "PW"), for: other, label: "l")
    let current = try bytes(path)
    let previous = try bytes(path + ".previous")
    let pending = path + ".previous-pending"

    // Killed after linking the current file as pending, before the rename:
    // the pending link is the current file and is simply dropped.
    link(path, pending)
    try store().write(SecretBytes(utf8: "PRIV2"), for: key, label: "l")
    #expect(try bytes(path + ".previous") == current)
    #expect(!FileManager.default.fileExists(atPath: pending))

    // Killed after the rename, before pending became the previous
    // generation: pending is an older file, and it is moved into place.
    try Data(previous).write(to: URL(fileURLWithPath: pending))
    AtomicFile.recoverPrevious(of: path)
    #expect(try bytes(path + ".previous") == previous)
    #expect(!FileManager.default.fileExists(atPath: pending))
  }

  @Test func aLostFileIsNotReplacedByANewOneWhileItsPreviousGenerationIsThere() throws {
    defer { cleanUp() }
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    try store().write(SecretBytes(utf8: "PW"), for: other, label: "l")
    try FileManager.default.removeItem(atPath: path)
    let previous = try bytes(path + ".previous")

    #expect(throws: SecretStoreError.fileMissing(path: path)) {
      try store("another").write(SecretBytes(utf8: "NEW"), for: key, label: "l")
    }
    #expect(!FileManager.default.fileExists(atPath: path))
    #expect(try bytes(path + ".previous") == previous)
    #expect(try store().restorePrevious() == ["acme/private-key"])
  }

  @Test func aNewFileIsNotMadeInAFolderOthersCanEnter() throws {
    defer { cleanUp() }
    try FileManager.default.setAttributes(
      [.posixPermissions: 0o777], ofItemAtPath: directory.path)

    #expect(throws: SecretStoreError.insecurePermissions(path: directory.path, mode: 0o777)) {
      try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    }
    #expect(!FileManager.default.fileExists(atPath: path))
    #expect(!FileManager.default.fileExists(atPath: path + ".lock"))
  }

  @Test func aLockFileThatIsALinkIsNotFollowed() throws {
    defer { cleanUp() }
    let target = directory.path + "/elsewhere"
    try FileManager.default.createSymbolicLink(atPath: path + ".lock", withDestinationPath: target)

    #expect(throws: SecretStoreError.self) {
      try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    }
    #expect(!FileManager.default.fileExists(atPath: target))
    #expect(!FileManager.default.fileExists(atPath: path))
  }

  @Test func removingFromALostFileKeepsItsPreviousGeneration() throws {
    defer { cleanUp() }
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    try store().write(SecretBytes(utf8: "PW"), for: other, label: "l")
    try FileManager.default.removeItem(atPath: path)
    let previous = try bytes(path + ".previous")

    #expect(throws: SecretStoreError.fileMissing(path: path)) {
      try store().deleteAll(profile: "acme")
    }
    #expect(try bytes(path + ".previous") == previous)
  }
}
