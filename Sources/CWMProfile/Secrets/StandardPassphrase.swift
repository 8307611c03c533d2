import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The encrypted file's passphrase from the first place that has one, in
/// this order:
///
/// 1. a file descriptor the caller opened (`--passphrase-fd N`), read to
///    its end and closed;
/// 2. a file (`--passphrase-file PATH`); a relative path is looked up in
///    systemd's `$CREDENTIALS_DIRECTORY` when that is set;
/// 3. the systemd credential `cwm-profile-passphrase` in
///    `$CREDENTIALS_DIRECTORY`, when present;
/// 4. an environment variable (`CWM_PROFILE_PASSPHRASE`);
/// 5. a no-echo prompt on the controlling terminal, asked twice for a new
///    file.
///
/// Files and descriptors lose one trailing line ending. An empty passphrase
/// is refused wherever it comes from, and with no source at all the call
/// fails at once instead of waiting for input that will never come. The
/// value is read once and kept (wiped on release), since a descriptor can
/// be read only once.
public final class StandardPassphrase: PassphraseSource, @unchecked Sendable {
  /// The systemd credential name looked for in `$CREDENTIALS_DIRECTORY`.
  public static let credentialName = "cwm-profile-passphrase"
  /// The environment variable read when no file or descriptor is given.
  public static let variable = "CWM_PROFILE_PASSPHRASE"

  /// Where to look.
  public struct Sources: Sendable {
    /// An open file descriptor holding the passphrase.
    public var fileDescriptor: Int32?
    /// A file holding the passphrase.
    public var file: String?
    /// systemd's `$CREDENTIALS_DIRECTORY`.
    public var credentialsDirectory: String?
    /// The systemd credential looked for there; nil looks for none.
    public var credentialName: String?
    /// The environment variable; nil reads none.
    public var variable: String?
    /// Whether the terminal may be asked.
    public var terminal: Bool
    /// The question shown on the terminal.
    public var prompt: String

    public init(
      fileDescriptor: Int32? = nil, file: String? = nil, credentialsDirectory: String? = nil,
      credentialName: String? = StandardPassphrase.credentialName,
      variable: String? = StandardPassphrase.variable, terminal: Bool = true,
      prompt: String = "Passphrase for the cwm-profile secrets file: "
    ) {
      self.fileDescriptor = fileDescriptor
      self.file = file
      self.credentialsDirectory = credentialsDirectory
      self.credentialName = credentialName
      self.variable = variable
      self.terminal = terminal
      self.prompt = prompt
    }
  }

  private let sources: Sources
  private let lock = NSLock()
  private var cached: SecretBytes?
  private var asked = false

  public init(_ sources: Sources) {
    self.sources = sources
  }

  /// Whether the passphrase has been asked for, so a caller with two
  /// sources can tell which one failed.
  public var wasAsked: Bool { lock.withLock { asked } }

  public func passphrase(creating: Bool) throws(SecretStoreError) -> SecretBytes {
    lock.lock()
    defer { lock.unlock() }
    asked = true
    if let cached { return cached }
    let value = try find(creating: creating)
    cached = value
    return value
  }

  /// A one-line name of the source that will be used, for diagnostics;
  /// reads nothing.
  public var sourceDescription: String {
    if let fd = sources.fileDescriptor { return "file descriptor \(fd)" }
    if let file = resolvedFile { return file }
    if let credential = credentialPath, access(credential, F_OK) == 0 { return credential }
    if let variable = sources.variable, getenv(variable) != nil { return variable }
    return sources.terminal ? "the terminal" : "none"
  }

  public var answersWithoutPrompt: Bool {
    if sources.fileDescriptor != nil || resolvedFile != nil { return true }
    if let credential = credentialPath, access(credential, F_OK) == 0 { return true }
    if let variable = sources.variable, getenv(variable) != nil { return true }
    return lock.withLock { cached != nil }
  }

  private var resolvedFile: String? {
    guard let file = sources.file else { return nil }
    if !file.hasPrefix("/"), let directory = sources.credentialsDirectory, !directory.isEmpty {
      return directory + "/" + file
    }
    return file
  }

  private var credentialPath: String? {
    guard let directory = sources.credentialsDirectory, !directory.isEmpty,
      let name = sources.credentialName
    else { return nil }
    return directory + "/" + name
  }

  private func find(creating: Bool) throws(SecretStoreError) -> SecretBytes {
    if let fd = sources.fileDescriptor {
      return try nonEmpty(Self.readDescriptor(fd), from: "file descriptor \(fd)")
    }
    if let file = resolvedFile {
      return try nonEmpty(Self.readFile(file), from: file)
    }
    if let credential = credentialPath, access(credential, F_OK) == 0 {
      return try nonEmpty(Self.readFile(credential), from: credential)
    }
    if let variable = sources.variable, let raw = getenv(variable) {
      // Straight from the environment block, so the value is copied once,
      // into a buffer that is wiped, and never into a Swift string.
      let value = SecretBytes(UnsafeRawBufferPointer(start: raw, count: strlen(raw)))
      return try nonEmpty(value, from: variable)
    }
    guard sources.terminal, let terminal = Terminal.controlling() else {
      throw .passphraseUnavailable
    }
    // A file being created gets a new passphrase, and the prompt says so.
    let prompt =
      creating && !sources.prompt.hasPrefix("New ")
      ? "New " + lowercasedFirst(sources.prompt) : sources.prompt
    let first = try ask(terminal, prompt)
    guard creating else { return first }
    let second = try ask(terminal, "Repeat the new passphrase: ")
    guard first.constantTimeEquals(second) else {
      throw .passphraseRejected(reason: "the two entries differ")
    }
    return first
  }

  private func lowercasedFirst(_ text: String) -> String {
    text.prefix(1).lowercased() + text.dropFirst()
  }

  private func nonEmpty(_ value: SecretBytes, from source: String) throws(SecretStoreError)
    -> SecretBytes
  {
    guard !value.isEmpty else {
      throw .passphraseRejected(reason: "the passphrase from \(source) is empty")
    }
    return value
  }

  private func ask(_ terminal: Terminal, _ question: String) throws(SecretStoreError)
    -> SecretBytes
  {
    guard let value = terminal.readHidden(prompt: question) else {
      throw .passphraseUnavailable
    }
    guard !value.isEmpty else { throw .passphraseRejected(reason: "it is empty") }
    return value
  }

  /// Reads `fd` to its end (at most 64 KiB), closes it, and drops one
  /// trailing line ending.
  static func readDescriptor(_ fd: Int32) throws(SecretStoreError) -> SecretBytes {
    guard fd >= 0, fcntl(fd, F_GETFD) >= 0 else {
      throw .passphraseSourceUnreadable(
        source: "file descriptor \(fd)", detail: "it is not open")
    }
    defer { close(fd) }
    return try readAll(fd, source: "file descriptor \(fd)")
  }

  /// Reads a passphrase file that only its owner may read.
  static func readFile(_ path: String) throws(SecretStoreError) -> SecretBytes {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      throw .passphraseSourceUnreadable(source: path, detail: systemError())
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      throw .passphraseSourceUnreadable(source: path, detail: systemError())
    }
    guard info.st_mode & S_IFMT == S_IFREG else {
      throw .passphraseSourceUnreadable(source: path, detail: "not a regular file")
    }
    let mode = UInt32(info.st_mode) & 0o7777
    guard mode & 0o077 == 0 else { throw .insecurePermissions(path: path, mode: mode) }
    return try readAll(fd, source: path)
  }

  private static func readAll(_ fd: Int32, source: String) throws(SecretStoreError)
    -> SecretBytes
  {
    let limit = 64 * 1024
    let buffer = SecretBytes(count: limit)
    var length = 0
    var failure: String?
    buffer.withUnsafeMutableBytes { out in
      while length < limit {
        let n = Glibc.read(fd, out.baseAddress! + length, limit - length)
        if n < 0 {
          if errno == EINTR { continue }
          failure = systemError()
          return
        }
        if n == 0 { return }
        length += n
      }
    }
    if let failure { throw .passphraseSourceUnreadable(source: source, detail: failure) }
    guard length < limit else {
      throw .passphraseSourceUnreadable(source: source, detail: "longer than 64 KiB")
    }
    return buffer.withUnsafeBytes { bytes in
      var end = length
      if end > 0, bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
      if end > 0, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
      return SecretBytes(UnsafeRawBufferPointer(rebasing: bytes[0..<end]))
    }
  }
}
