/// Which store a new profile's secrets should go to.
public enum StorePreference: String, Sendable, CaseIterable {
  /// The keyring when a Secret Service answers, else the encrypted file.
  case auto
  case keyring
  case file
}

/// Opens the secret stores of one machine and picks between them.
public final class SecretStores: @unchecked Sendable {
  public let paths: Paths
  private let passphrase: PassphraseSource
  private let strength: KeyDerivationStrength
  private let keyringTimeout: Double
  private let logger: Logger
  private let probe: @Sendable (Double) -> KeyringStatus
  private var opened: [StoreKind: SecretStore] = [:]

  /// - Parameters:
  ///   - passphrase: for the encrypted file, asked only if it is used.
  ///   - keyringTimeout: seconds any Secret Service call may take.
  ///   - probe: tells whether the keyring can be used; the default asks
  ///     the session bus.
  public init(
    paths: Paths, passphrase: PassphraseSource,
    strength: KeyDerivationStrength = .interactive, keyringTimeout: Double = 10,
    logger: Logger = .silent,
    probe: @escaping @Sendable (Double) -> KeyringStatus = { KeyringSecretStore.probe(timeout: $0) }
  ) {
    self.paths = paths
    self.passphrase = passphrase
    self.strength = strength
    self.keyringTimeout = keyringTimeout
    self.logger = logger
    self.probe = probe
  }

  /// The outcome of `choose`.
  public struct Choice: Sendable {
    public var kind: StoreKind
    /// A line for the user when `auto` fell back to the file.
    public var notice: String?
  }

  /// Resolves a preference to a store kind. `auto` falls back to the file
  /// only when there is no Secret Service at all; a keyring that exists
  /// but is locked, failing or slow is an error, never silently replaced.
  public func choose(_ preference: StorePreference) throws(SecretStoreError) -> Choice {
    switch preference {
    case .file: return Choice(kind: .file, notice: nil)
    case .keyring:
      if case .unavailable(let error) = probe(keyringTimeout) { throw error }
      return Choice(kind: .keyring, notice: nil)
    case .auto:
      switch probe(keyringTimeout) {
      case .available: return Choice(kind: .keyring, notice: nil)
      case .unavailable(.noSessionBus):
        return Choice(
          kind: .file,
          notice: "no D-Bus session bus; using the encrypted file \(paths.secretsFile)")
      case .unavailable(.noSecretService):
        return Choice(
          kind: .file,
          notice:
            "no Secret Service on the session bus; using the encrypted file \(paths.secretsFile)")
      case .unavailable(let error): throw error
      }
    }
  }

  /// Whether the encrypted file exists and can be opened without asking
  /// anyone for its passphrase.
  public var fileOpensWithoutPrompt: Bool {
    encryptedFile.exists && passphrase.answersWithoutPrompt
  }

  /// The encrypted file store, for the operations only it has.
  public var encryptedFile: EncryptedFileStore {
    // `store(.file)` always makes an `EncryptedFileStore`.
    store(.file) as! EncryptedFileStore
  }

  /// The store of `kind`, opened once per instance.
  public func store(_ kind: StoreKind) -> SecretStore {
    if let store = opened[kind] { return store }
    let store: SecretStore
    switch kind {
    case .keyring: store = KeyringSecretStore(timeout: keyringTimeout, logger: logger)
    case .file:
      store = EncryptedFileStore(
        path: paths.secretsFile, passphrase: passphrase, strength: strength, logger: logger)
    case .memory: store = MemorySecretStore()
    }
    opened[kind] = store
    return store
  }
}
