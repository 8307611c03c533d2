import Foundation

/// Secrets in one libsodium-encrypted file, for machines without a Secret
/// Service: Argon2id turns the passphrase into a key, XChaCha20-Poly1305
/// seals the entries and authenticates the header.
///
/// Every change is a locked read-modify-write: the file is opened (which
/// checks the passphrase), changed in memory, and replaced atomically,
/// keeping the previous generation beside it as `.previous`.
public final class EncryptedFileStore: SecretStore, @unchecked Sendable {
  /// The file's path.
  public let path: String

  private let passphraseSource: PassphraseSource
  private let strength: KeyDerivationStrength
  private let logger: Logger
  private let mutex = NSLock()
  private var derived: (salt: [UInt8], ops: UInt32, mem: UInt32, key: SecretBytes)?

  /// - Parameters:
  ///   - path: the file; its folder is made with mode 0700 when missing.
  ///   - passphrase: asked once per store, only when the file is touched.
  ///   - strength: the work factor for a file this store creates; an
  ///     existing file keeps its own.
  public init(
    path: String, passphrase: PassphraseSource,
    strength: KeyDerivationStrength = .interactive, logger: Logger = .silent
  ) {
    self.path = path
    self.passphraseSource = passphrase
    self.strength = strength
    self.logger = logger
  }

  public var kind: StoreKind { .file }

  private var lockPath: String { path + ".lock" }

  /// Whether the file exists.
  public var exists: Bool { FileManager.default.fileExists(atPath: path) }

  public func read(_ key: SecretKey) throws -> SecretBytes? {
    try mutex.withLock {
      guard let entries = try load() else { return nil }
      return entries[key.description]
    }
  }

  public func write(_ secret: SecretBytes, for key: SecretKey, label: String) throws {
    try modify { entries in
      entries[key.description] = secret
      return true
    }
  }

  @discardableResult
  public func delete(_ key: SecretKey) throws -> Bool {
    var found = false
    try modify { entries in
      found = entries.removeValue(forKey: key.description) != nil
      return found
    }
    return found
  }

  /// Removes every entry of `profile` in one write, then the previous
  /// generation, which would still hold them.
  @discardableResult
  public func deleteAll(profile: String) throws -> Int {
    var count = 0
    // With the file gone, its previous generation is all that is left of
    // every profile in it: keep it, and say that nothing could be removed.
    if !exists, FileManager.default.fileExists(atPath: previousPath) {
      throw SecretStoreError.fileMissing(path: path)
    }
    try modify(keepPrevious: false) { entries in
      for kind in SecretKind.allCases {
        let name = SecretKey(profile: profile, kind: kind).description
        if entries.removeValue(forKey: name) != nil { count += 1 }
      }
      return count > 0
    }
    return count
  }

  /// The names of every entry, for diagnostics; no values.
  public func entryNames() throws -> [String] {
    try mutex.withLock { try load()?.keys.sorted() ?? [] }
  }

  /// Where the generation before the current one is kept.
  public var previousPath: String { path + ".previous" }

  /// Re-encrypts every entry under a new passphrase and a fresh salt, in
  /// one atomic replacement under the lock. The current passphrase is
  /// checked first. The previous generation, which the old passphrase
  /// still opens, is deleted once the new file is in place.
  ///
  /// - Parameters:
  ///   - newPassphrase: asked as for a new file (twice on a terminal).
  ///   - strength: the new work factor; nil keeps the file's own.
  /// - Returns: how many entries were re-encrypted.
  @discardableResult
  public func changePassphrase(
    to newPassphrase: PassphraseSource, strength: KeyDerivationStrength? = nil
  ) throws -> Int {
    try exclusively {
      guard let entries = try load(), let current = derived else {
        throw SecretStoreError.fileMissing(path: path)
      }
      let passphrase = try newPassphrase.passphrase(creating: true)
      var header = SecretsFileFormat.Header(
        opsLimit: current.ops, memLimitKiB: current.mem, generation: 0,
        salt: Sodium.randomBytes(Sodium.saltLength), nonce: [], keyCheck: [])
      if let limits = strength?.limits {
        header.opsLimit = UInt32(limits.ops)
        header.memLimitKiB = UInt32(limits.mem / 1024)
      }
      guard let key = SecretsFileFormat.deriveKey(passphrase, header: header) else {
        throw SecretStoreError.fileIO(path: path, detail: "not enough memory for key derivation")
      }
      let fresh = (header.salt, header.opsLimit, header.memLimitKiB, key)
      // Without the previous generation, which the old passphrase opens.
      try replace(with: entries, sealedBy: fresh, keepPrevious: false)
      derived = fresh
      return entries.count
    }
  }

  /// Puts the previous generation back in place, once it has been opened
  /// with this store's passphrase. The generation it replaces becomes the
  /// previous one, so a second restore undoes the first.
  ///
  /// - Parameter dryRun: only check that the previous generation opens.
  /// - Returns: the names of the entries in the restored generation.
  @discardableResult
  public func restorePrevious(dryRun: Bool = false) throws -> [String] {
    try exclusively {
      let bytes: [UInt8]
      do {
        guard let read = try AtomicFile.read(previousPath) else {
          throw SecretStoreError.noPreviousGeneration(path: previousPath)
        }
        bytes = read
      } catch let failure as AtomicFile.Failure {
        throw fileError(failure)
      }
      if let mode = fileMode(previousPath), mode & 0o077 != 0 {
        throw SecretStoreError.insecurePermissions(path: previousPath, mode: mode)
      }
      let entries: [String: SecretBytes]
      do {
        let header = try SecretsFileFormat.parseHeader(bytes)
        entries = try SecretsFileFormat.open(bytes, header: header, key: try key(for: header))
      } catch let problem as SecretsFileFormat.Problem {
        if problem == .wrongPassphrase { derived = nil }
        throw storeError(problem, path: previousPath)
      }
      guard !dryRun else { return entries.keys.sorted() }
      do {
        try AtomicFile.write(bytes, to: path, keepPrevious: true)
      } catch {
        throw fileError(error)
      }
      logger.debug("restored the previous generation of \(path)")
      return entries.keys.sorted()
    }
  }

  /// Runs `body` holding this store's mutex and the cross-process lock,
  /// after checking the folder (before even the lock file is made in it)
  /// and finishing what a writer killed earlier left behind.
  private func exclusively<T>(_ body: () throws -> T) throws -> T {
    try mutex.withLock {
      try checkPermissions()
      let lock: FileLock
      do { lock = try FileLock(path: lockPath) } catch { throw fileError(error) }
      defer { withExtendedLifetime(lock) {} }
      AtomicFile.removeStrayTemporaries(beside: path)
      AtomicFile.recoverPrevious(of: path)
      return try body()
    }
  }

  /// Reads, changes and rewrites the file under the cross-process lock.
  /// `change` returns whether anything changed; when not, nothing is written.
  /// Without `keepPrevious` the generation replaced is not kept, and an
  /// older one is deleted.
  private func modify(
    keepPrevious: Bool = true, _ change: (inout [String: SecretBytes]) throws -> Bool
  ) throws {
    try exclusively {
      let existing = try load()
      var entries = existing ?? [:]
      guard try change(&entries) else { return }
      // A missing file next to its previous generation was lost, not never
      // made: starting a new one would bury what restore-file can bring back.
      if existing == nil, FileManager.default.fileExists(atPath: previousPath) {
        throw SecretStoreError.fileMissing(path: path)
      }
      try replace(with: entries, sealedBy: try keyForWriting(), keepPrevious: keepPrevious)
    }
  }

  /// Seals `entries` as the next generation and puts the file in place.
  /// Without `keepPrevious` the previous generation is deleted first, so a
  /// crash in between leaves the current file and no older copy.
  private func replace(
    with entries: [String: SecretBytes],
    sealedBy key: (salt: [UInt8], ops: UInt32, mem: UInt32, key: SecretBytes),
    keepPrevious: Bool
  ) throws {
    let generation = (try currentGeneration() ?? 0) &+ 1
    let bytes = SecretsFileFormat.seal(
      entries, key: key.key, salt: key.salt, opsLimit: key.ops, memLimitKiB: key.mem,
      generation: generation)
    if !keepPrevious {
      unlink(previousPath)
      AtomicFile.syncDirectory((path as NSString).deletingLastPathComponent)
    }
    do {
      try AtomicFile.write(bytes, to: path, keepPrevious: keepPrevious)
    } catch {
      throw fileError(error)
    }
    logger.debug("wrote \(path), generation \(generation), \(entries.count) entries")
  }

  /// Decrypts the file, or returns nil when it does not exist yet.
  private func load() throws -> [String: SecretBytes]? {
    // The folder is checked even before the file exists, so a new file is
    // never made where others can reach it.
    try checkPermissions()
    let file: [UInt8]
    do {
      guard let bytes = try AtomicFile.read(path) else { return nil }
      file = bytes
    } catch {
      throw fileError(error)
    }
    do {
      let header = try SecretsFileFormat.parseHeader(file)
      let key = try key(for: header)
      return try SecretsFileFormat.open(file, header: header, key: key)
    } catch let problem as SecretsFileFormat.Problem {
      if problem == .wrongPassphrase { derived = nil }
      throw storeError(problem)
    }
  }

  private func currentGeneration() throws -> UInt32? {
    guard let bytes = try? AtomicFile.read(path) else { return nil }
    return try? SecretsFileFormat.parseHeader(bytes).generation
  }

  /// The key for an existing file's header, derived once per store.
  private func key(for header: SecretsFileFormat.Header) throws -> SecretBytes {
    if let derived, derived.salt == header.salt, derived.ops == header.opsLimit,
      derived.mem == header.memLimitKiB
    {
      return derived.key
    }
    let passphrase = try passphraseSource.passphrase(creating: false)
    guard let key = SecretsFileFormat.deriveKey(passphrase, header: header) else {
      throw SecretStoreError.fileIO(path: path, detail: "not enough memory for key derivation")
    }
    derived = (header.salt, header.opsLimit, header.memLimitKiB, key)
    return key
  }

  /// The key to seal with: the existing file's (already checked by
  /// `load`) or, for a new file, one from a fresh salt and a passphrase
  /// asked twice.
  private func keyForWriting() throws -> (
    salt: [UInt8], ops: UInt32, mem: UInt32, key: SecretBytes
  ) {
    if let derived { return derived }
    let passphrase = try passphraseSource.passphrase(creating: true)
    let limits = strength.limits
    let header = SecretsFileFormat.Header(
      opsLimit: UInt32(limits.ops), memLimitKiB: UInt32(limits.mem / 1024), generation: 0,
      salt: Sodium.randomBytes(Sodium.saltLength), nonce: [], keyCheck: [])
    guard let key = SecretsFileFormat.deriveKey(passphrase, header: header) else {
      throw SecretStoreError.fileIO(path: path, detail: "not enough memory for key derivation")
    }
    let fresh = (header.salt, header.opsLimit, header.memLimitKiB, key)
    derived = fresh
    return fresh
  }

  private func checkPermissions() throws {
    let directory = (path as NSString).deletingLastPathComponent
    for item in [directory, path] {
      if let mode = fileMode(item), mode & 0o077 != 0 {
        throw SecretStoreError.insecurePermissions(path: item, mode: mode)
      }
    }
  }

  private func fileError(_ error: Error) -> SecretStoreError {
    if let failure = error as? AtomicFile.Failure {
      return .fileIO(path: failure.path, detail: failure.detail)
    }
    return .fileIO(path: path, detail: "\(error)")
  }

  private func storeError(
    _ problem: SecretsFileFormat.Problem, path: String? = nil
  ) -> SecretStoreError {
    let path = path ?? self.path
    switch problem {
    case .notOurs: return .fileCorrupted(path: path, reason: "not a cwm-profile secrets file")
    case .truncated: return .fileCorrupted(path: path, reason: "the file is truncated")
    case .unsupportedVersion(let version):
      return .unsupportedFileVersion(path: path, version: version)
    case .damagedHeader(let reason): return .fileCorrupted(path: path, reason: reason)
    case .wrongPassphrase: return .wrongPassphrase(path: path)
    case .damagedBody:
      return .fileCorrupted(path: path, reason: "the encrypted contents fail authentication")
    case .damagedEntries:
      return .fileCorrupted(path: path, reason: "the decrypted entries are malformed")
    }
  }
}
