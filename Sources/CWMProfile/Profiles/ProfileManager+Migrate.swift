/// What `ProfileManager.migrate` did, or for a dry run would do, with one
/// profile.
public struct Migration: Sendable, Equatable {
  /// How it ended.
  public enum Outcome: Sendable, Equatable {
    /// The secrets are in the target store and the profile points there.
    case moved
    /// The profile already uses the target store; nothing was done.
    case alreadyThere
    /// A dry run: nothing was read or changed.
    case planned
  }

  public var profile: String
  public var from: StoreKind
  public var to: StoreKind
  public var outcome: Outcome
  /// The secrets moved; for a dry run, the one that must be there.
  public var kinds: [SecretKind]
  /// For a dry run, the secrets moved too when present.
  public var optionalKinds: [SecretKind]
  /// Set when the move is complete but the old copies could not all be
  /// deleted from the source store.
  public var leftBehind: SecretStoreError?
}

extension ProfileManager {
  /// Moves every secret of the profile named `name` to the `target` store.
  ///
  /// The target is checked first as `add --store` does (a keyring must be
  /// usable). Then each secret is copied, read back from the target and
  /// compared, the profile list is updated, and only then are the secrets
  /// deleted from the source. A failure before the profile list changes
  /// leaves the source as it was and removes what was copied.
  ///
  /// - Parameter dryRun: only say what would be moved; no secret is read.
  /// - Throws: `ProfileError`, `SecretStoreError`, or
  ///   `ConnectError.secretMissing` when the source lacks the profile's
  ///   private key or password.
  public func migrate(named name: String, to target: StoreKind, dryRun: Bool = false) throws
    -> Migration
  {
    let profile = try profiles.profile(named: name)
    if profile.store == target { return .skipped(profile) }
    try checkUsable(target)
    if dryRun { return .planned(profile, to: target) }
    return try migrate(profile, from: stores.store(profile.store), to: stores.store(target))
  }

  /// Migrates every profile not yet in `target`, in name order, stopping
  /// at the first failure; those already moved stay moved.
  ///
  /// - Parameter each: called with each profile's result as it is known.
  @discardableResult
  public func migrateAll(
    to target: StoreKind, dryRun: Bool = false, each: (Migration) -> Void = { _ in }
  ) throws -> [Migration] {
    let all = try profiles.all()
    if all.contains(where: { $0.store != target }) { try checkUsable(target) }
    var results: [Migration] = []
    for profile in all {
      let result: Migration
      if profile.store == target {
        result = .skipped(profile)
      } else if dryRun {
        result = .planned(profile, to: target)
      } else {
        result = try migrate(profile, from: stores.store(profile.store), to: stores.store(target))
      }
      each(result)
      results.append(result)
    }
    return results
  }

  /// Moves `profile`'s secrets from `source` to `target`, which becomes the
  /// profile's store. Any store works here, including one a test brings.
  public func migrate(_ profile: Profile, from source: SecretStore, to target: SecretStore) throws
    -> Migration
  {
    var secrets: [(key: SecretKey, value: SecretBytes)] = []
    for kind in SecretKind.allCases {
      let key = SecretKey(profile: profile.name, kind: kind)
      if let value = try source.read(key) { secrets.append((key, value)) }
    }
    guard secrets.contains(where: { $0.key == profile.primarySecret }) else {
      throw ConnectError.secretMissing(
        profile: profile.name, kind: profile.primarySecret.kind, store: source.kind)
    }

    var written: [SecretKey] = []
    do {
      for (key, value) in secrets {
        // Noted before writing: a write that timed out may still have landed.
        written.append(key)
        try target.write(value, for: key, label: Self.label(key.kind, of: profile))
      }
      for (key, value) in secrets {
        guard let copy = try target.read(key), copy.constantTimeEquals(value) else {
          throw Self.mismatch(key, in: target)
        }
      }
      var moved = profile
      moved.store = target.kind
      try profiles.update(moved, expecting: profile)
    } catch {
      for key in written { _ = try? target.delete(key) }
      throw error
    }

    // The profile now points at the target; old copies are only clutter,
    // so a failure to delete them is reported, not undone.
    // `deleteAll` also drops a copy the source keeps of its own (the
    // encrypted file's previous generation).
    var leftBehind: SecretStoreError?
    do {
      try source.deleteAll(profile: profile.name)
    } catch {
      leftBehind =
        (error as? SecretStoreError)
        ?? .keyringFailed(detail: "cannot delete the secrets of \(profile.name)")
    }
    // The next connect builds a fresh connection in the new store.
    _ = try? cache.forget(profile.name, store: nil)
    return Migration(
      profile: profile.name, from: source.kind, to: target.kind, outcome: .moved,
      kinds: secrets.map(\.key.kind), optionalKinds: [], leftBehind: leftBehind)
  }

  /// Throws the store's own error when `kind` cannot take secrets now.
  private func checkUsable(_ kind: StoreKind) throws {
    switch kind {
    case .keyring: _ = try stores.choose(.keyring)
    case .file:
      _ = try stores.choose(.file)
      try checkFileNotLost()
    case .memory: break
    }
  }

  /// The label a person sees in a keyring viewer.
  private static func label(_ kind: SecretKind, of profile: Profile) -> String {
    if kind == profile.primarySecret.kind { return profile.secretLabel }
    let what = kind == .token ? "cached connection" : kind.rawValue
    return "cwm-profile \(profile.name): \(what) for \(profile.company) on \(profile.server)"
  }

  /// The store's own kind of failure for a copy that did not read back.
  private static func mismatch(_ key: SecretKey, in store: SecretStore) -> SecretStoreError {
    let detail = "the \(key.kind.rawValue) of '\(key.profile)' did not read back as written"
    switch store {
    case let file as EncryptedFileStore: return .fileIO(path: file.path, detail: detail)
    default: return .keyringFailed(detail: detail)
    }
  }
}

extension Migration {
  fileprivate static func skipped(_ profile: Profile) -> Migration {
    Migration(
      profile: profile.name, from: profile.store, to: profile.store, outcome: .alreadyThere,
      kinds: [], optionalKinds: [], leftBehind: nil)
  }

  fileprivate static func planned(_ profile: Profile, to target: StoreKind) -> Migration {
    let primary = profile.primarySecret.kind
    return Migration(
      profile: profile.name, from: profile.store, to: target, outcome: .planned,
      // A profile has one primary secret; the only other is a cached token.
      kinds: [primary], optionalKinds: [.token],
      leftBehind: nil)
  }
}
