/// What a secret is for; part of the secret's address in every store.
public enum SecretKind: String, Sendable, CaseIterable, Codable {
  /// The private half of an API key.
  case privateKey = "private-key"
  /// A member's password, for cookie login.
  case password
  /// A token derived from the others (an impersonation key pair, a member
  /// hash), kept so that it can be reused until it expires.
  case token
}

/// The address of one secret: which profile, and what it is for.
public struct SecretKey: Hashable, Sendable, CustomStringConvertible {
  public let profile: String
  public let kind: SecretKind

  public init(profile: String, kind: SecretKind) {
    self.profile = profile
    self.kind = kind
  }

  /// The form used as an entry name in the encrypted file.
  public var description: String { "\(profile)/\(kind.rawValue)" }
}

/// Which kind of store holds a profile's secrets.
public enum StoreKind: String, Sendable, Codable, CaseIterable {
  /// The Secret Service (GNOME keyring) on the session bus, via libsecret.
  case keyring
  /// The libsodium-encrypted file, for machines without a Secret Service.
  case file
  /// Process memory only; for tests and for library users who bring
  /// their own persistence.
  case memory
}

/// A place that keeps secrets.
///
/// Implementations never put a secret into an error, a log message or a
/// description; they report a locked or unreachable store as an error,
/// never as a missing secret.
public protocol SecretStore: AnyObject, Sendable {
  /// Which kind of store this is.
  var kind: StoreKind { get }

  /// Returns the secret at `key`, or nil when the store is reachable and
  /// holds no such secret.
  func read(_ key: SecretKey) throws -> SecretBytes?

  /// Stores `secret` at `key`, replacing what was there.
  ///
  /// - Parameter label: a name a person recognises in a keyring viewer.
  func write(_ secret: SecretBytes, for key: SecretKey, label: String) throws

  /// Removes the secret at `key`.
  ///
  /// - Returns: whether there was one.
  @discardableResult
  func delete(_ key: SecretKey) throws -> Bool

  /// Removes every secret of `profile`, leaving no copy of them that the
  /// store keeps for itself (such as an earlier generation of a file).
  ///
  /// - Returns: how many there were.
  @discardableResult
  func deleteAll(profile: String) throws -> Int
}

extension SecretStore {
  @discardableResult
  public func deleteAll(profile: String) throws -> Int {
    var count = 0
    for kind in SecretKind.allCases where try delete(SecretKey(profile: profile, kind: kind)) {
      count += 1
    }
    return count
  }
}

/// Why a secret store could not do what was asked. Descriptions are one
/// line and never contain a secret.
public enum SecretStoreError: Error, Equatable, Sendable {
  /// There is no D-Bus session bus to find a Secret Service on.
  case noSessionBus(detail: String)
  /// The bus is up but nothing provides `org.freedesktop.secrets`.
  case noSecretService(detail: String)
  /// The Secret Service has no default collection to keep items in.
  case noDefaultCollection
  /// The default collection is locked.
  case keyringLocked
  /// The Secret Service did not answer in time.
  case keyringTimeout(seconds: Double)
  /// The user dismissed the unlock prompt.
  case promptDismissed
  /// Any other Secret Service failure, with libsecret's message.
  case keyringFailed(detail: String)

  /// A passphrase is needed, none was given and there is no terminal to ask on.
  case passphraseUnavailable
  /// A passphrase file or descriptor that was named cannot be read.
  case passphraseSourceUnreadable(source: String, detail: String)
  /// The passphrase (or its confirmation) was empty or did not match.
  case passphraseRejected(reason: String)
  /// The passphrase does not open the encrypted file.
  case wrongPassphrase(path: String)
  /// The encrypted file is damaged: truncated, altered or not ours.
  case fileCorrupted(path: String, reason: String)
  /// The encrypted file was written by a newer, unknown format version.
  case unsupportedFileVersion(path: String, version: Int)
  /// A profile's secrets are in the encrypted file, and there is none.
  case fileMissing(path: String)
  /// There is no previous generation of the encrypted file to restore.
  case noPreviousGeneration(path: String)
  /// The encrypted file or its folder can be read or written by others.
  case insecurePermissions(path: String, mode: UInt32)
  /// Reading or writing the encrypted file failed at the system level.
  case fileIO(path: String, detail: String)
}

extension SecretStoreError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .noSessionBus(let detail):
      return
        "no D-Bus session bus (\(detail)); without a desktop session the keyring cannot be "
        + "reached: keep secrets in the encrypted file"
    case .noSecretService(let detail):
      return
        "no Secret Service on the session bus (\(detail)); start gnome-keyring, "
        + "or keep secrets in the encrypted file"
    case .noDefaultCollection:
      return
        "the Secret Service has no default keyring; create one, for example in Seahorse "
        + "(Passwords and Keys)"
    case .keyringLocked:
      return
        "the keyring is locked; run 'cwm-profile unlock' (or log in to the desktop) and retry"
    case .keyringTimeout(let seconds):
      return
        "the Secret Service did not answer within \(formatSeconds(seconds)); the keyring "
        + "daemon may be hung: restart it, or raise CWM_PROFILE_KEYRING_TIMEOUT"
    case .promptDismissed:
      return
        "the keyring unlock prompt was dismissed or could not be shown (it needs a desktop "
        + "session); the keyring stays locked"
    case .keyringFailed(let detail): return "keyring error: \(detail)"
    case .passphraseUnavailable:
      return
        "the encrypted file needs a passphrase: give --passphrase-fd or --passphrase-file, "
        + "set CWM_PROFILE_PASSPHRASE, or run from a terminal"
    case .passphraseSourceUnreadable(let source, let detail):
      return "cannot read the passphrase from \(source): \(detail)"
    case .passphraseRejected(let reason): return "passphrase rejected: \(reason)"
    case .wrongPassphrase(let path): return "wrong passphrase for \(path)"
    case .fileCorrupted(let path, let reason): return "\(path) is damaged: \(reason)"
    case .unsupportedFileVersion(let path, let version):
      return "\(path) uses format version \(version), which this cwm-profile cannot read"
    case .fileMissing(let path):
      return
        "\(path) does not exist; restore it from a backup, or put its previous generation "
        + "back with 'cwm-profile restore-file' if \(path).previous exists"
    case .noPreviousGeneration(let path):
      return "there is no previous generation to restore (\(path) does not exist)"
    case .insecurePermissions(let path, let mode):
      return
        "\(path) is accessible to others (mode \(String(mode, radix: 8))); run chmod go-rwx on it"
    case .fileIO(let path, let detail): return "\(path): \(detail)"
    }
  }
}

func formatSeconds(_ seconds: Double) -> String {
  seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}
