// Temporary placeholder until the libsecret store lands.
public enum KeyringStatus: Sendable, Equatable {
  case available
  case unavailable(SecretStoreError)
}

public final class KeyringSecretStore: SecretStore {
  public init(timeout: Double = 10, logger: Logger = .silent) {}
  public var kind: StoreKind { .keyring }
  public static func probe(timeout: Double = 10) -> KeyringStatus {
    .unavailable(.noSessionBus(detail: "placeholder"))
  }
  public func read(_ key: SecretKey) throws -> SecretBytes? { nil }
  public func write(_ secret: SecretBytes, for key: SecretKey, label: String) throws {}
  public func delete(_ key: SecretKey) throws -> Bool { false }
}
