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
