#if canImport(Glibc)
  import Glibc
#endif

/// Supplies the encrypted file's passphrase when the store first needs it.
public protocol PassphraseSource: Sendable {
  /// Returns the passphrase.
  ///
  /// - Parameter creating: the file does not exist yet, so an interactive
  ///   source should ask twice and compare.
  func passphrase(creating: Bool) throws(SecretStoreError) -> SecretBytes
}

/// A passphrase known in advance; for tests and for programs that get it
/// from somewhere of their own.
public struct FixedPassphrase: PassphraseSource {
  private let value: SecretBytes

  public init(_ value: SecretBytes) { self.value = value }

  public func passphrase(creating: Bool) throws(SecretStoreError) -> SecretBytes {
    guard !value.isEmpty else { throw .passphraseRejected(reason: "it is empty") }
    return value
  }
}

/// The passphrase from `CWM_PROFILE_PASSPHRASE`, else asked on the
/// controlling terminal without echo. With neither, it fails at once
/// rather than waiting on a standard input that is not a terminal.
public struct EnvironmentOrTerminalPassphrase: PassphraseSource {
  /// The variable read first.
  public static let variable = "CWM_PROFILE_PASSPHRASE"

  private let prompt: String

  /// - Parameter prompt: the question shown on the terminal.
  public init(prompt: String = "Passphrase for the cwm-profile secrets file: ") {
    self.prompt = prompt
  }

  public func passphrase(creating: Bool) throws(SecretStoreError) -> SecretBytes {
    // Read straight from the environment block so the passphrase is copied
    // once, into a buffer that is wiped, rather than into Swift strings.
    if let raw = getenv(Self.variable) {
      let value = SecretBytes(UnsafeRawBufferPointer(start: raw, count: strlen(raw)))
      guard !value.isEmpty else {
        throw .passphraseRejected(reason: "\(Self.variable) is set but empty")
      }
      return value
    }
    guard let terminal = Terminal.controlling() else { throw .passphraseUnavailable }
    let first = try read(terminal, prompt)
    guard creating else { return first }
    let second = try read(terminal, "Repeat the new passphrase: ")
    guard first.constantTimeEquals(second) else {
      throw .passphraseRejected(reason: "the two entries differ")
    }
    return first
  }

  private func read(_ terminal: Terminal, _ question: String) throws(SecretStoreError)
    -> SecretBytes
  {
    guard let value = terminal.readHidden(prompt: question) else {
      throw .passphraseUnavailable
    }
    guard !value.isEmpty else { throw .passphraseRejected(reason: "it is empty") }
    return value
  }
}
