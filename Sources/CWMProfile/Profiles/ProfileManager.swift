/// The operations behind the command line, for any Swift program: add a
/// profile with its secret, remove both, connect one.
public final class ProfileManager: @unchecked Sendable {
  public let profiles: ProfileStore
  public let stores: SecretStores
  public let engine: ConnectEngine

  public init(profiles: ProfileStore, stores: SecretStores, engine: ConnectEngine) {
    self.profiles = profiles
    self.stores = stores
    self.engine = engine
  }

  /// Saves `profile` and its primary secret. The secret is written first,
  /// under the profile list's lock, so that a failure leaves neither a
  /// profile without its secret nor another profile's secret replaced.
  public func add(_ profile: Profile, secret: SecretBytes) throws {
    let profile = try profile.validated()
    guard !secret.isEmpty else {
      throw ProfileError.invalidValue(field: "secret", reason: "it is empty")
    }
    let store = stores.store(profile.store)
    var wrote = false
    do {
      try profiles.add(profile) {
        try store.write(secret, for: profile.primarySecret, label: profile.secretLabel)
        wrote = true
      }
    } catch {
      if wrote { _ = try? store.delete(profile.primarySecret) }
      throw error
    }
  }

  /// Removes the profile and every secret it has in its store. If the
  /// store cannot be reached (a locked keyring), nothing is removed.
  @discardableResult
  public func remove(named name: String) throws -> Profile {
    try profiles.remove(named: name) { profile in
      let store = stores.store(profile.store)
      for kind in SecretKind.allCases {
        try store.delete(SecretKey(profile: profile.name, kind: kind))
      }
    }
  }

  /// Connects the profile named `name`.
  public func connect(named name: String, options: ConnectEngine.Options = .init()) throws
    -> Connection
  {
    let profile = try profiles.profile(named: name)
    return try engine.connect(profile, secrets: stores.store(profile.store), options: options)
  }
}
