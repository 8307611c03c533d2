import Foundation
import Testing

@testable import CWMProfile

@Suite struct StandardPassphraseTests {
  let directory: URL

  init() throws {
    directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("cwm-pass-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
  }

  func cleanUp() { try? FileManager.default.removeItem(at: directory) }

  /// A file holding `text`, with `mode`.
  func file(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
    let path = directory.path + "/" + name
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    return path
  }

  /// The read end of a pipe whose write end got `text` and was closed.
  func descriptor(_ text: String) -> Int32 {
    var ends: [Int32] = [0, 0]
    pipe(&ends)
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
    close(ends[1])
    return ends[0]
  }

  /// A variable of this test alone, so parallel tests never see it.
  func variable(_ value: String?) -> String {
    let name = "CWM_TEST_PASSPHRASE_\(UUID().uuidString.prefix(8))"
    if let value { setenv(name, value, 1) }
    return name
  }

  func read(_ sources: StandardPassphrase.Sources) throws -> String {
    try StandardPassphrase(sources).passphrase(creating: false).unsafeStringCopy()
  }

  @Test func aDescriptorIsReadToItsEndLosesOneLineEndingAndIsClosed() throws {
    let fd = descriptor("from fd\n")

    let value = try read(.init(fileDescriptor: fd, variable: nil, terminal: false))

    #expect(value == "from fd")
    #expect(fcntl(fd, F_GETFD) == -1)
  }

  @Test func aDescriptorIsReadOnceAndTheValueKept() throws {
    let source = StandardPassphrase(
      .init(fileDescriptor: descriptor("once"), variable: nil, terminal: false))

    let first = try source.passphrase(creating: true).unsafeStringCopy()
    let second = try source.passphrase(creating: false).unsafeStringCopy()

    #expect(first == "once" && second == "once")
  }

  @Test func aClosedDescriptorIsNamedAsUnreadable() throws {
    let fd = descriptor("x")
    close(fd)

    #expect(
      throws: SecretStoreError.passphraseSourceUnreadable(
        source: "file descriptor \(fd)", detail: "it is not open")
    ) { try read(.init(fileDescriptor: fd, variable: nil, terminal: false)) }
  }

  @Test func aFileMustBeTheOwnersAlone() throws {
    defer { cleanUp() }
    let open = try file("open", "secret", mode: 0o640)
    let closed = try file("closed", "secret\r\n")

    #expect(throws: SecretStoreError.insecurePermissions(path: open, mode: 0o640)) {
      try read(.init(file: open, variable: nil, terminal: false))
    }
    #expect(try read(.init(file: closed, variable: nil, terminal: false)) == "secret")
  }

  @Test func aRelativeFileAndTheCredentialAreFoundInTheCredentialsDirectory() throws {
    defer { cleanUp() }
    _ = try file("named", "by name")
    _ = try file(StandardPassphrase.credentialName, "by credential")

    let named = try read(
      .init(file: "named", credentialsDirectory: directory.path, variable: nil, terminal: false))
    let credential = try read(
      .init(credentialsDirectory: directory.path, variable: nil, terminal: false))

    #expect(named == "by name")
    #expect(credential == "by credential")
  }

  @Test func theOrderIsDescriptorFileCredentialVariable() throws {
    defer { cleanUp() }
    let path = try file("file", "file")
    _ = try file(StandardPassphrase.credentialName, "credential")
    let name = variable("variable")
    defer { unsetenv(name) }

    let all = try read(
      .init(
        fileDescriptor: descriptor("fd"), file: path, credentialsDirectory: directory.path,
        variable: name, terminal: false))
    let noDescriptor = try read(
      .init(file: path, credentialsDirectory: directory.path, variable: name, terminal: false))
    let noFile = try read(
      .init(credentialsDirectory: directory.path, variable: name, terminal: false))
    let onlyVariable = try read(.init(variable: name, terminal: false))

    #expect([all, noDescriptor, noFile, onlyVariable] == ["fd", "file", "credential", "variable"])
  }

  @Test func anEmptyPassphraseIsRefusedFromEverySource() throws {
    defer { cleanUp() }
    let empty = try file("empty", "\n")
    let name = variable("")
    defer { unsetenv(name) }

    let fd = descriptor("\n")

    #expect(
      throws: SecretStoreError.passphraseRejected(
        reason: "the passphrase from file descriptor \(fd) is empty")
    ) { try read(.init(fileDescriptor: fd, variable: nil, terminal: false)) }
    #expect(
      throws: SecretStoreError.passphraseRejected(reason: "the passphrase from \(empty) is empty")
    ) {
      try read(.init(file: empty, variable: nil, terminal: false))
    }
    #expect(
      throws: SecretStoreError.passphraseRejected(reason: "the passphrase from \(name) is empty")
    ) {
      try read(.init(variable: name, terminal: false))
    }
  }

  @Test func withNoSourceItFailsAtOnce() throws {
    let name = variable(nil)

    #expect(throws: SecretStoreError.passphraseUnavailable) {
      try read(.init(variable: name, terminal: false))
    }
  }
}
