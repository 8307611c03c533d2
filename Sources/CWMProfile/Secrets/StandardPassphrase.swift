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

  public var answersWithoutPrompt: Bool {
    if case .terminal = chosen { return lock.withLock { cached != nil } }
    return true
  }

  /// Where the passphrase comes from, by the order above.
  private enum Source {
    case descriptor(Int32)
    case file(String)
    case variable(String)
    case terminal
  }

  /// The first source that is given; reads nothing.
  private var chosen: Source {
    if let fd = sources.fileDescriptor { return .descriptor(fd) }
    if let file = resolvedFile { return .file(file) }
    if let credential = credentialPath, access(credential, F_OK) == 0 { return .file(credential) }
    if let variable = sources.variable, getenv(variable) != nil { return .variable(variable) }
    return .terminal
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
    switch chosen {
    case .descriptor(let fd):
      return try nonEmpty(Self.readDescriptor(fd), from: "file descriptor \(fd)")
    case .file(let path):
      return try nonEmpty(Self.readFile(path), from: path)
    case .variable(let variable):
      // Straight from the environment block, so the value is copied once,
      // into a buffer that is wiped, and never into a Swift string.
      guard let raw = getenv(variable) else { throw .passphraseUnavailable }
      let value = SecretBytes(UnsafeRawBufferPointer(start: raw, count: strlen(raw)))
      return try nonEmpty(value, from: variable)
    case .terminal:
      return try askOnTerminal(creating: creating)
    }
  }

  private func askOnTerminal(creating: Bool) throws(SecretStoreError) -> SecretBytes {
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
    switch readSecret(toEndOf: fd) {
    case .value(let value): return value
    case .tooLong(let limit):
      throw .passphraseSourceUnreadable(source: source, detail: "longer than \(limit / 1024) KiB")
    case .failed(let detail): throw .passphraseSourceUnreadable(source: source, detail: detail)
    }
  }
}
