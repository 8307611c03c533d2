import Foundation

/// The profile list: one JSON file, mode 0600, replaced atomically and
/// changed only under a cross-process lock so parallel commands never
/// lose each other's profiles.
public final class ProfileStore: Sendable {
  /// The file's path.
  public let path: String

  public init(path: String) {
    self.path = path
  }

  /// The store at its usual place for `paths`.
  public convenience init(paths: Paths) {
    self.init(path: paths.profilesFile)
  }

  private struct FileContents: Codable {
    var version: Int
    var profiles: [String: Profile]
  }

  static let formatVersion = 1

  /// Every profile, sorted by name.
  public func all() throws(ProfileError) -> [Profile] {
    try load().values.sorted { $0.name < $1.name }
  }

  /// The profile named `name`.
  public func profile(named name: String) throws(ProfileError) -> Profile {
    try ProfileName.validate(name)
    guard let profile = try load()[name] else { throw .notFound(name: name) }
    return profile
  }

  /// Adds `profile`; never replaces one of the same name.
  ///
  /// - Parameter beforeSaving: runs under the lock once the name is known
  ///   to be free, before the list is written (to store the profile's
  ///   secret); if it throws, nothing is saved.
  public func add(_ profile: Profile, beforeSaving: () throws -> Void = {}) throws {
    try modify(
      { profiles in
        guard profiles[profile.name] == nil else {
          throw ProfileError.alreadyExists(name: profile.name)
        }
        profiles[profile.name] = profile
      }, beforeSaving: beforeSaving)
  }

  /// Runs `body` under the list's lock, but only while `profile` is still
  /// saved exactly as given, so that nothing derived from a profile (a
  /// cached connection, a token) is written after the profile was removed
  /// or changed by another process.
  ///
  /// - Returns: whether `body` ran.
  @discardableResult
  public func whileSaved(_ profile: Profile, _ body: () throws -> Void) throws -> Bool {
    var ran = false
    try locked {
      guard try load()[profile.name] == profile else { return }
      try body()
      ran = true
    }
    return ran
  }

  /// Replaces the existing profile with the same name.
  ///
  /// - Parameter expected: when given, the profile as the caller read it;
  ///   if another process changed it since, nothing is replaced and
  ///   `ProfileError.changedMeanwhile` is thrown.
  public func update(_ profile: Profile, expecting expected: Profile? = nil) throws {
    try modify { profiles in
      guard let current = profiles[profile.name] else {
        throw expected == nil
          ? ProfileError.notFound(name: profile.name)
          : ProfileError.changedMeanwhile(name: profile.name)
      }
      if let expected, current != expected {
        throw ProfileError.changedMeanwhile(name: profile.name)
      }
      profiles[profile.name] = profile
    }
  }

  /// Removes the profile named `name` and returns it.
  ///
  /// - Parameter beforeSaving: runs under the lock with the profile about
  ///   to go (to delete its secrets); if it throws, the profile stays.
  @discardableResult
  public func remove(named name: String, beforeSaving: (Profile) throws -> Void = { _ in })
    throws -> Profile
  {
    try ProfileName.validate(name)
    var removed: Profile?
    try modify(
      { profiles in
        guard let profile = profiles.removeValue(forKey: name) else {
          throw ProfileError.notFound(name: name)
        }
        removed = profile
      }, beforeSaving: { try beforeSaving(removed!) })
    return removed!
  }

  private func load() throws(ProfileError) -> [String: Profile] {
    let bytes: [UInt8]
    do {
      guard let read = try AtomicFile.read(path) else { return [:] }
      bytes = read
    } catch {
      throw .fileIO(path: error.path, detail: error.detail)
    }
    let contents: FileContents
    do {
      contents = try JSONDecoder().decode(FileContents.self, from: Data(bytes))
    } catch {
      throw .fileDamaged(path: path, reason: "not a valid profile list (\(Self.reason(error)))")
    }
    guard contents.version == Self.formatVersion else {
      throw .fileDamaged(
        path: path, reason: "format version \(contents.version) is not supported")
    }
    for (name, profile) in contents.profiles where profile.name != name {
      throw .fileDamaged(path: path, reason: "entry '\(printable(name))' names another profile")
    }
    return contents.profiles
  }

  /// Runs `body` holding the cross-process lock of the list.
  private func locked(_ body: () throws -> Void) throws {
    let lock: FileLock
    do {
      lock = try FileLock(path: path + ".lock")
    } catch {
      throw ProfileError.fileIO(path: error.path, detail: error.detail)
    }
    defer { withExtendedLifetime(lock) {} }
    try body()
  }

  /// Changes the list under the lock. The new list is written and flushed
  /// first; `beforeSaving` (which writes or deletes secrets) runs only once
  /// that has worked, and the list is put in place only if it succeeds. So
  /// a list that cannot be written changes no secret, and a failing secret
  /// store changes no list.
  private func modify(
    _ change: (inout [String: Profile]) throws -> Void, beforeSaving: () throws -> Void = {}
  ) throws {
    try locked {
      AtomicFile.removeStrayTemporaries(beside: path)
      var profiles = try load()
      try change(&profiles)
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      let prepared: AtomicFile.Prepared
      do {
        let data = try encoder.encode(
          FileContents(version: Self.formatVersion, profiles: profiles))
        prepared = try AtomicFile.prepare(Array(data) + [UInt8(ascii: "\n")], to: path)
      } catch let failure as AtomicFile.Failure {
        throw ProfileError.fileIO(path: failure.path, detail: failure.detail)
      } catch {
        throw ProfileError.fileIO(path: path, detail: "cannot encode profiles")
      }
      do {
        try beforeSaving()
      } catch {
        prepared.discard()
        throw error
      }
      do {
        try prepared.commit()
      } catch let failure as AtomicFile.Failure {
        throw ProfileError.fileIO(path: failure.path, detail: failure.detail)
      }
    }
  }

  private static func reason(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, _): return "missing '\(key.stringValue)'"
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
      return "bad value at " + context.codingPath.map { $0.stringValue }.joined(separator: ".")
    case DecodingError.dataCorrupted: return "invalid JSON"
    default: return "unreadable"
    }
  }
}
