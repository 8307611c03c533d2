import Foundation

/// The operations behind the command line, for any Swift program: add a
/// profile with its secret, remove both, connect one.
public final class ProfileManager: @unchecked Sendable {
  public let profiles: ProfileStore
  public let stores: SecretStores
  public let engine: ConnectEngine
  public let cache: ConnectionCache

  public init(
    profiles: ProfileStore, stores: SecretStores, engine: ConnectEngine, cache: ConnectionCache
  ) {
    self.profiles = profiles
    self.stores = stores
    self.engine = engine
    self.cache = cache
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
    if profile.store == .file { try checkFileNotLost() }
    _ = try? cache.forget(profile.name, store: nil)
    var wrote = false
    do {
      try profiles.add(profile) {
        try store.write(secret, for: profile.primarySecret, label: profile.secretLabel)
        wrote = true
      }
    } catch {
      if wrote { _ = try? store.deleteAll(profile: profile.name) }
      throw error
    }
  }

  /// Refuses to start a new encrypted file while saved profiles say their
  /// secrets are in one: that file was lost (moved, deleted, another
  /// `XDG_DATA_HOME`), and a new one would hide the fact.
  func checkFileNotLost() throws {
    let file = stores.encryptedFile
    guard !file.exists, try profiles.all().contains(where: { $0.store == .file }) else { return }
    throw SecretStoreError.fileMissing(path: file.path)
  }

  /// Removes the profile and every secret it has in its store. If the
  /// store cannot be reached (a locked keyring), nothing is removed.
  @discardableResult
  public func remove(named name: String) throws -> Profile {
    try profiles.remove(named: name) { profile in
      try stores.store(profile.store).deleteAll(profile: profile.name)
      // A migration that was killed before it switched the profile leaves
      // a copy in the other store; take it too when that store opens
      // without asking anyone.
      if profile.store == .file, (try? stores.choose(.keyring)) != nil {
        _ = try? stores.store(.keyring).deleteAll(profile: profile.name)
      }
      if profile.store == .keyring, stores.fileOpensWithoutPrompt {
        _ = try? stores.encryptedFile.deleteAll(profile: profile.name)
      }
      try cache.forget(profile.name, store: nil)
    }
  }

  /// Connects the profile named `name`, from the cache when a matching
  /// connection is there and `force` is not set. A fresh connection is
  /// cached only once it has been validated; a failed one leaves nothing
  /// cached.
  public func connect(
    named name: String, options: ConnectEngine.Options = .init(), force: Bool = false
  ) throws -> Connection {
    let profile = try profiles.profile(named: name)
    let store = stores.store(profile.store)
    guard let secret = try store.read(profile.primarySecret) else {
      if let file = store as? EncryptedFileStore, !file.exists {
        throw SecretStoreError.fileMissing(path: file.path)
      }
      throw ConnectError.secretMissing(
        profile: profile.name, kind: profile.primarySecret.kind, store: store.kind)
    }
    if !force,
      let cached = try cache.load(profile, options: options, secret: secret, store: store)
    {
      engine.logger.debug(
        "using the cached connection of \(profile.name) (\(cached.baseURL)), trusted until "
          + (cached.cachedUntil.map { $0.formatted(.iso8601) } ?? "its token expires"))
      guard cache.needsNewToken(cached) else { return cached }
      let refreshed = try engine.refreshToken(cached, profile: profile, secret: secret)
      try profiles.whileSaved(profile) {
        try cache.save(refreshed, profile: profile, options: options, secret: secret, store: store)
      }
      return refreshed
    }
    do {
      let connection = try engine.connect(profile, secret: secret, options: options)
      // A profile removed or changed while this one was connecting gets no
      // cache: its secrets must stay gone.
      try profiles.whileSaved(profile) {
        try cache.save(
          connection, profile: profile, options: options, secret: secret, store: store)
      }
      return connection
    } catch {
      _ = try? cache.forget(profile.name, store: store)
      throw error
    }
  }

  /// Forgets the cached connection of `name`.
  ///
  /// - Returns: whether there was one.
  @discardableResult
  public func disconnect(named name: String) throws -> Bool {
    let profile = try profiles.profile(named: name)
    return try cache.forget(profile.name, store: stores.store(profile.store))
  }
}
