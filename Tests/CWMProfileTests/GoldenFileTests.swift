import Foundation
import Testing

@testable import CWMProfile

/// A file written by format version 1, checked in, must open in every later
/// version. `Golden/format-v1.cwmsec` was made by `cwm-profile add` with the
/// passphrase `golden passphrase` and the default (interactive) strength:
/// profile `acme` with private key `PRIV-golden-ü`, then cookie profile
/// `legacy` with password `p&ss=w%rd+`. Never regenerate it; add a new
/// golden file for a new version instead.
@Suite struct GoldenFileTests {
  static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Golden/format-v1.cwmsec")

  /// A private copy, since opening checks the folder's permissions.
  func copy() throws -> (directory: URL, path: String) {
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("cwm-golden-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let path = directory.path + "/secrets.cwmsec"
    try FileManager.default.copyItem(atPath: Self.golden.path, toPath: path)
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    return (directory, path)
  }

  @Test func theVersionOneFileOpensWithItsEntries() throws {
    let (directory, path) = try copy()
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = EncryptedFileStore(
      path: path, passphrase: FixedPassphrase(SecretBytes(utf8: "golden passphrase")))

    let key = try store.read(SecretKey(profile: "acme", kind: .privateKey))
    let password = try store.read(SecretKey(profile: "legacy", kind: .password))

    #expect(key?.unsafeStringCopy() == "PRIV-golden-ü")
    #expect(password?.unsafeStringCopy() == "p&ss=w%rd+")
    #expect(try store.entryNames() == ["acme/private-key", "legacy/password"])
  }

  @Test func theVersionOneHeaderReadsAsDocumented() throws {
    let bytes = Array(try Data(contentsOf: Self.golden))

    let header = try SecretsFileFormat.parseHeader(bytes)

    #expect(Array(bytes[0..<8]) == Array("CWMPSEC\n".utf8))
    #expect(bytes[8] == 0 && bytes[9] == 1)
    #expect(header.opsLimit == 2)
    #expect(header.memLimitKiB == 65536)
    #expect(header.generation == 2)
    #expect(bytes.count == 96 + 16 + 4 + (2 + 16 + 4 + 14) + (2 + 15 + 4 + 10))
  }

  @Test func aWrongPassphraseOnTheGoldenFileIsNotDamage() throws {
    let (directory, path) = try copy()
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = EncryptedFileStore(
      path: path, passphrase: FixedPassphrase(SecretBytes(utf8: "golden passphrasE")))

    #expect(throws: SecretStoreError.wrongPassphrase(path: path)) {
      try store.read(SecretKey(profile: "acme", kind: .privateKey))
    }
  }
}
