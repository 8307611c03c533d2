import Foundation
import Testing

@testable import CWMProfile

@Suite struct EncryptedFileStoreTests {
  let directory: URL
  let key = SecretKey(profile: "acme", kind: .privateKey)

  init() throws {
    directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("cwm-file-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
  }

  func store(_ passphrase: String = "correct horse", path: String? = nil) -> EncryptedFileStore {
    EncryptedFileStore(
      path: path ?? directory.path + "/secrets.cwmsec",
      passphrase: FixedPassphrase(SecretBytes(utf8: passphrase)))
  }

  func cleanUp() { try? FileManager.default.removeItem(at: directory) }

  @Test func roundTripsSecretsAcrossInstances() throws {
    defer { cleanUp() }
    let other = SecretKey(profile: "beta", kind: .password)
    try store().write(SecretBytes(utf8: "PRIV-ü-456"), for: key, label: "l")
    try store().write(SecretBytes(utf8: "pw&=+%"), for: other, label: "l")

    let reader = store()

    #expect(try reader.read(key)?.unsafeStringCopy() == "PRIV-ü-456")
    #expect(try reader.read(other)?.unsafeStringCopy() == "pw&=+%")
    #expect(try reader.read(SecretKey(profile: "acme", kind: .token)) == nil)
    #expect(try reader.entryNames() == ["acme/private-key", "beta/password"])
  }

  @Test func fileAndFolderAreOwnerOnlyAndThePlaintextIsAbsent() throws {
    defer { cleanUp() }
    let nested = directory.path + "/made/here/secrets.cwmsec"
    try store(path: nested).write(SecretBytes(utf8: "PLAINTEXT-MARKER"), for: key, label: "l")

    let bytes = try Data(contentsOf: URL(fileURLWithPath: nested))

    #expect(fileMode(nested) == 0o600)
    #expect(fileMode(directory.path + "/made/here") == 0o700)
    #expect(bytes.range(of: Data("PLAINTEXT-MARKER".utf8)) == nil)
    #expect(bytes.range(of: Data("acme".utf8)) == nil)
  }

  @Test func wrongPassphraseIsReportedAndTheFileIsUntouched() throws {
    defer { cleanUp() }
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    let path = directory.path + "/secrets.cwmsec"
    let before = try Data(contentsOf: URL(fileURLWithPath: path))

    #expect(throws: SecretStoreError.wrongPassphrase(path: path)) {
      try store("wrong").write(SecretBytes(utf8: "OTHER"), for: key, label: "l")
    }
    #expect(throws: SecretStoreError.wrongPassphrase(path: path)) {
      try store("wrong").read(key)
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  }

  @Test func everySingleByteChangeIsDetected() throws {
    defer { cleanUp() }
    let path = directory.path + "/secrets.cwmsec"
    try store().write(SecretBytes(utf8: "k"), for: key, label: "l")
    let original = try #require(try AtomicFile.read(path))
    let header = try SecretsFileFormat.parseHeader(original)
    let derived = try #require(
      SecretsFileFormat.deriveKey(SecretBytes(utf8: "correct horse"), header: header))

    for index in original.indices {
      var damaged = original
      damaged[index] ^= 0x01
      #expect(throws: SecretsFileFormat.Problem.self, "byte \(index) flipped") {
        let parsed = try SecretsFileFormat.parseHeader(damaged)
        _ = try SecretsFileFormat.open(damaged, header: parsed, key: derived)
      }
    }
  }

  @Test func flippedBodyByteIsDamageNotAWrongPassphrase() throws {
    defer { cleanUp() }
    let path = directory.path + "/secrets.cwmsec"
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    var bytes = try #require(try AtomicFile.read(path))
    bytes[bytes.count - 1] ^= 0x80
    try Data(bytes).write(to: URL(fileURLWithPath: path))

    #expect(throws: SecretStoreError.self) { try store().read(key) }
    do {
      _ = try store().read(key)
    } catch let error as SecretStoreError {
      guard case .fileCorrupted = error else {
        Issue.record("expected fileCorrupted, got \(error)")
        return
      }
    }
  }

  @Test func truncatedForeignAndFutureFilesEachHaveTheirOwnError() throws {
    defer { cleanUp() }
    let path = directory.path + "/secrets.cwmsec"
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    let good = try #require(try AtomicFile.read(path))

    try Data(good.prefix(50)).write(to: URL(fileURLWithPath: path))
    #expect(throws: SecretStoreError.fileCorrupted(path: path, reason: "the file is truncated")) {
      try store().read(key)
    }
    try Data("{\"not\": \"ours\"}".utf8).write(to: URL(fileURLWithPath: path))
    #expect(
      throws: SecretStoreError.fileCorrupted(path: path, reason: "not a cwm-profile secrets file")
    ) { try store().read(key) }
    var future = good
    future[9] = 2
    try Data(future).write(to: URL(fileURLWithPath: path))
    #expect(throws: SecretStoreError.unsupportedFileVersion(path: path, version: 2)) {
      try store().read(key)
    }
  }

  @Test func permissionsOpenToOthersAreRefused() throws {
    defer { cleanUp() }
    let path = directory.path + "/secrets.cwmsec"
    try store().write(SecretBytes(utf8: "PRIV"), for: key, label: "l")
    chmod(path, 0o644)

    #expect(throws: SecretStoreError.insecurePermissions(path: path, mode: 0o644)) {
      try store().read(key)
    }
  }

  @Test func deleteRemovesOnlyTheEntryAndKeepsThePreviousGeneration() throws {
    defer { cleanUp() }
    let other = SecretKey(profile: "beta", kind: .privateKey)
    let writer = store()
    try writer.write(SecretBytes(utf8: "A"), for: key, label: "l")
    try writer.write(SecretBytes(utf8: "B"), for: other, label: "l")

    #expect(try writer.delete(key))
    #expect(try !writer.delete(key))

    let reader = store()
    #expect(try reader.read(key) == nil)
    #expect(try reader.read(other)?.unsafeStringCopy() == "B")
    let previous = store(path: directory.path + "/secrets.cwmsec.previous")
    #expect(try previous.read(key)?.unsafeStringCopy() == "A")
  }

  @Test func anEmptyPassphraseIsRefused() throws {
    defer { cleanUp() }

    #expect(throws: SecretStoreError.passphraseRejected(reason: "it is empty")) {
      try store("").write(SecretBytes(utf8: "A"), for: key, label: "l")
    }
    #expect(!FileManager.default.fileExists(atPath: directory.path + "/secrets.cwmsec"))
  }

  @Test func entriesEncodingRoundTripsAndRejectsTrailingBytes() throws {
    let entries = ["a/private-key": SecretBytes(utf8: "x"), "b/token": SecretBytes([0, 1, 2])]

    let encoded = SecretsFileFormat.encodeEntries(entries)
    let decoded = try SecretsFileFormat.decodeEntries(encoded)

    #expect(decoded.keys.sorted() == ["a/private-key", "b/token"])
    #expect(decoded["b/token"]?.withUnsafeBytes { Array($0) } == [0, 1, 2])
    let padded = encoded.appending(SecretBytes([0]))
    #expect(throws: SecretsFileFormat.Problem.damagedEntries) {
      try SecretsFileFormat.decodeEntries(padded)
    }
  }
}
