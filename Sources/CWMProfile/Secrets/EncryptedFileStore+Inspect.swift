/// What can be learned about the encrypted file without its passphrase:
/// where it is, its permissions, and what its header says. Nothing is
/// decrypted, locked or written to find it out.
public struct EncryptedFileInspection: Sendable, Equatable {
  /// The header's key derivation and generation, as written in the file.
  public struct Header: Sendable, Equatable {
    /// The format version (`1`).
    public var formatVersion: Int
    /// Argon2id passes (`crypto_pwhash` ops limit).
    public var opsLimit: UInt32
    /// Argon2id memory, in KiB.
    public var memoryKiB: UInt32
    /// The named strength these parameters are exactly, if any.
    public var strength: KeyDerivationStrength?
    /// How many times the file has been written.
    public var generation: UInt32

    /// Argon2id memory in whole MiB, rounded down.
    public var memoryMiB: UInt32 { memoryKiB / 1024 }
  }

  /// What reading the header found.
  public enum HeaderState: Sendable, Equatable {
    /// There is no file.
    case missing
    /// A well-formed header of a version this build reads.
    case valid(Header)
    /// A format version this build cannot read.
    case unsupportedVersion(Int)
    /// Not a cwm-profile file, truncated, or a header that fails its checksum.
    case damaged(reason: String)
    /// The file could not be read at all (permissions, I/O).
    case unreadable(detail: String)
  }

  /// The file's path.
  public var path: String
  /// The folder holding it.
  public var directory: String
  /// The file's permission bits, or nil when it cannot be examined.
  public var fileMode: UInt32?
  /// The folder's permission bits, or nil when it cannot be examined.
  public var directoryMode: UInt32?
  /// What the header says.
  public var header: HeaderState
  /// The path kept for the previous generation (`path` + `.previous`).
  public var previousPath: String
  /// Whether a previous generation is kept beside the file.
  public var previousExists: Bool

  /// Whether the file exists.
  public var exists: Bool { header != .missing }

  /// Whether `mode` gives nobody but the owner any access; the store
  /// refuses a file or folder for which this is false.
  public static func isOwnerOnly(_ mode: UInt32) -> Bool { mode & 0o077 == 0 }
}

extension EncryptedFileStore {
  /// Examines this store's file without the passphrase.
  public func inspect() -> EncryptedFileInspection {
    Self.inspect(path: path)
  }

  /// Examines the encrypted file at `path` without the passphrase: its
  /// and its folder's modes, the header's version, key derivation
  /// parameters and generation, and whether a previous generation is kept.
  public static func inspect(path: String) -> EncryptedFileInspection {
    let directory = parentDirectory(of: path)
    let previous = path + ".previous"
    return EncryptedFileInspection(
      path: path, directory: directory, fileMode: fileMode(path),
      directoryMode: fileMode(directory), header: headerState(path), previousPath: previous,
      previousExists: fileMode(previous) != nil)
  }

  /// The permission bits of a file beside the store's, for diagnostics.
  static func permissions(of path: String) -> UInt32? { fileMode(path) }

  private static func headerState(_ path: String) -> EncryptedFileInspection.HeaderState {
    let bytes: [UInt8]
    do {
      guard let read = try AtomicFile.read(path) else { return .missing }
      bytes = read
    } catch {
      return .unreadable(detail: error.detail)
    }
    do {
      let header = try SecretsFileFormat.parseHeader(bytes)
      return .valid(
        .init(
          formatVersion: Int(SecretsFileFormat.version), opsLimit: header.opsLimit,
          memoryKiB: header.memLimitKiB,
          strength: KeyDerivationStrength(opsLimit: header.opsLimit, memoryKiB: header.memLimitKiB),
          generation: header.generation))
    } catch {
      switch error {
      case .unsupportedVersion(let version): return .unsupportedVersion(version)
      case .notOurs: return .damaged(reason: "not a cwm-profile secrets file")
      case .truncated: return .damaged(reason: "the file is truncated")
      case .damagedHeader(let reason): return .damaged(reason: reason)
      case .wrongPassphrase, .damagedBody, .damagedEntries:
        // The header alone never tells these; listed for completeness.
        return .damaged(reason: "the header cannot be read")
      }
    }
  }

  private static func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }
}

extension KeyDerivationStrength {
  /// The named strength whose Argon2id parameters are exactly these, or
  /// nil for parameters that match none.
  public init?(opsLimit: UInt32, memoryKiB: UInt32) {
    let match = Self.allCases.first {
      $0.limits.ops == UInt64(opsLimit) && $0.limits.mem == UInt64(memoryKiB) * 1024
    }
    guard let match else { return nil }
    self = match
  }
}
