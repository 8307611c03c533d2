/// Supplies the encrypted file's passphrase when the store first needs it.
public protocol PassphraseSource: Sendable {
  /// Returns the passphrase.
  ///
  /// - Parameter creating: the file does not exist yet, so an interactive
  ///   source should ask twice and compare.
  func passphrase(creating: Bool) throws(SecretStoreError) -> SecretBytes

  /// Whether a passphrase can be had without asking a person, so that
  /// optional work (tidying a store the command was not about) never
  /// prompts.
  var answersWithoutPrompt: Bool { get }
}

extension PassphraseSource {
  public var answersWithoutPrompt: Bool { true }
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
