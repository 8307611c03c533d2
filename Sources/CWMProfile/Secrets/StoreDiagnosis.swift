/// The state of this machine's secret stores, as `cwm-profile doctor`
/// reports it: the keyring, what `--store auto` would choose, the
/// encrypted file, and which store each profile uses.
///
/// Examining never prompts, never asks for a passphrase, never unlocks and
/// never writes: the keyring is only probed, the encrypted file's header
/// is read without decrypting anything, and the profile list is only read.
/// The same machine state gives an equal value, with everything in a
/// fixed order.
public struct Diagnosis: Sendable, Equatable {
  /// The keyring's state, in words for someone new to the Secret Service.
  public struct Keyring: Sendable, Equatable {
    /// What the probe found.
    public var status: KeyringStatus
    /// The seconds the probe was allowed (`CWM_PROFILE_KEYRING_TIMEOUT`).
    public var timeout: Double

    /// A stable identifier of the state: `usable`, `no-session-bus`,
    /// `no-secret-service`, `no-default-keyring`, `locked`, `timeout`,
    /// `prompt-dismissed` or `failed`.
    public var state: String {
      switch status {
      case .available: return "usable"
      case .unavailable(.noSessionBus): return "no-session-bus"
      case .unavailable(.noSecretService): return "no-secret-service"
      case .unavailable(.noDefaultCollection): return "no-default-keyring"
      case .unavailable(.keyringLocked): return "locked"
      case .unavailable(.keyringTimeout): return "timeout"
      case .unavailable(.promptDismissed): return "prompt-dismissed"
      case .unavailable: return "failed"
      }
    }

    /// One sentence saying what the state means.
    public var summary: String {
      switch status {
      case .available:
        return "usable: a Secret Service answers and its default keyring is unlocked"
      case .unavailable(.noSessionBus(let detail)):
        return "no D-Bus session bus, so no keyring can be reached (\(detail))"
      case .unavailable(.noSecretService(let detail)):
        return "there is a session bus, but no keyring service runs on it (\(detail))"
      case .unavailable(.noDefaultCollection):
        return "the keyring service runs, but it has no default keyring to keep secrets in"
      case .unavailable(.keyringLocked):
        return "the default keyring is locked"
      case .unavailable(.keyringTimeout(let seconds)):
        return "the keyring service did not answer within \(formatSeconds(seconds))"
      case .unavailable(.promptDismissed):
        return "the keyring unlock prompt was dismissed"
      case .unavailable(.keyringFailed(let detail)):
        return "the keyring service answered with an error: \(detail)"
      case .unavailable(let error):
        return "the keyring cannot be used: \(error)"
      }
    }

    /// What to do about it.
    public var hint: String {
      switch status {
      case .available:
        return "nothing to do; new profiles keep their secrets in the keyring"
      case .unavailable(.noSessionBus):
        return
          "normal over SSH, in containers and in CI: secrets go to the encrypted file; "
          + "for a keyring, run inside a desktop session"
      case .unavailable(.noSecretService):
        return
          "install and start a Secret Service such as gnome-keyring, "
          + "or keep using the encrypted file"
      case .unavailable(.noDefaultCollection):
        return "create a default keyring, for example in Seahorse (Passwords and Keys)"
      case .unavailable(.keyringLocked), .unavailable(.promptDismissed):
        return
          "run 'cwm-profile unlock' in the desktop session, or log in to it; "
          + "no other command unlocks it, so scripts never stop at a prompt"
      case .unavailable(.keyringTimeout):
        return
          "the keyring daemon may be hung: restart it, "
          + "or allow more time with CWM_PROFILE_KEYRING_TIMEOUT"
      case .unavailable:
        return "run the command again with --verbose to see the keyring calls"
      }
    }
  }

  /// What `--store auto` would choose now, and why.
  public struct AutoChoice: Sendable, Equatable {
    /// The store `auto` picks, or nil when it would stop with `error`.
    public var store: StoreKind?
    /// Why `auto` would stop instead of choosing.
    public var error: SecretStoreError?
    /// Why, in one sentence.
    public var reason: String
  }

  /// Where one profile's secrets are.
  public struct ProfileEntry: Sendable, Equatable {
    public var name: String
    /// The store named in the profile list.
    public var store: StoreKind
    /// Why its secrets cannot be reached now, when the examination shows it.
    public var problem: String?
  }

  public var keyring: Keyring
  public var auto: AutoChoice
  public var file: EncryptedFileInspection
  /// Every profile, sorted by name; empty when the list cannot be read.
  public var profiles: [ProfileEntry]
  /// Why the profile list could not be read, when it could not.
  public var profileListError: ProfileError?

  /// The problems found, one sentence each, in a fixed order: the keyring,
  /// the encrypted file, the profile list, then each profile.
  public var problems: [String] {
    var found: [String] = []
    if case .unavailable = keyring.status, !keyring.status.allowsFileFallback {
      found.append("keyring: \(keyring.summary)")
    }
    found += file.problems
    if let profileListError { found.append("profile list: \(profileListError)") }
    for entry in profiles {
      if let problem = entry.problem { found.append("profile \(entry.name): \(problem)") }
    }
    return found
  }

  /// Examines the stores of the machine that `paths` describe.
  ///
  /// - Parameters:
  ///   - keyringTimeout: seconds the keyring probe may take.
  ///   - probe: tells the keyring's state; the default asks the session bus.
  public static func examine(
    paths: Paths, keyringTimeout: Double = 10,
    probe: @escaping @Sendable (Double) -> KeyringStatus = { KeyringSecretStore.probe(timeout: $0) }
  ) -> Diagnosis {
    let status = probe(keyringTimeout)
    let file = EncryptedFileStore.inspect(path: paths.secretsFile)
    var profiles: [ProfileEntry] = []
    var listError: ProfileError?
    do {
      profiles = try ProfileStore(paths: paths).all().map {
        ProfileEntry(
          name: $0.name, store: $0.store, problem: problem(of: $0.store, status, file))
      }
    } catch {
      listError = error
    }
    return Diagnosis(
      keyring: Keyring(status: status, timeout: keyringTimeout),
      auto: autoChoice(status, paths: paths), file: file, profiles: profiles,
      profileListError: listError)
  }

  /// Decides as `SecretStores.choose(.auto)` does, from the status already
  /// probed so that the report stays consistent with itself.
  private static func autoChoice(_ status: KeyringStatus, paths: Paths) -> AutoChoice {
    let stores = SecretStores(paths: paths, passphrase: NoPassphrase()) { _ in status }
    do {
      let choice = try stores.choose(.auto)
      if choice.kind == .keyring {
        return AutoChoice(
          store: .keyring, error: nil, reason: "a Secret Service answers and is unlocked")
      }
      return AutoChoice(
        store: choice.kind, error: nil,
        reason: "there is no Secret Service here, so new secrets go to the encrypted file")
    } catch {
      return AutoChoice(
        store: nil, error: error,
        reason:
          "a keyring exists but cannot be used, and auto never falls back to the file then: "
          + "\(error)")
    }
  }

  /// Why a profile in `store` cannot be reached, from what was examined.
  private static func problem(
    of store: StoreKind, _ status: KeyringStatus, _ file: EncryptedFileInspection
  ) -> String? {
    switch store {
    case .keyring:
      guard case .unavailable(let error) = status else { return nil }
      return "its secrets are in the keyring, which cannot be used now (\(error))"
    case .file:
      switch file.header {
      case .valid: return nil
      case .missing: return "its secrets are in the encrypted file, which does not exist"
      case .unsupportedVersion, .damaged, .unreadable:
        return "its secrets are in the encrypted file, which cannot be opened"
      }
    case .memory:
      return "it names the memory store, which keeps nothing between runs"
    }
  }
}

extension EncryptedFileInspection {
  /// What is wrong with the file, one sentence each; empty when nothing is
  /// or when there is no file.
  public var problems: [String] {
    var found: [String] = []
    if let fileMode, exists, !Self.isOwnerOnly(fileMode) {
      found.append(
        "encrypted file: \(path) is accessible to others (mode \(Self.octal(fileMode))); "
          + "run chmod go-rwx on it")
    }
    // The folder matters even before the file exists: the store refuses
    // a file in a folder others can enter.
    if let directoryMode, !Self.isOwnerOnly(directoryMode) {
      found.append(
        "encrypted file: its folder \(directory) is accessible to others "
          + "(mode \(Self.octal(directoryMode))); run chmod go-rwx on it")
    }
    if previousExists, let mode = EncryptedFileStore.permissions(of: previousPath),
      !Self.isOwnerOnly(mode)
    {
      found.append(
        "encrypted file: its previous generation \(previousPath) is accessible to others "
          + "(mode \(Self.octal(mode))); run chmod go-rwx on it")
    }
    let restore = previousExists ? "; 'cwm-profile restore-file' can put the previous one back" : ""
    switch header {
    case .missing:
      if previousExists {
        found.append(
          "encrypted file: \(path) is missing but its previous generation is there\(restore)")
      }
    case .valid: break
    case .unsupportedVersion(let version):
      found.append(
        "encrypted file: format version \(version), which this cwm-profile cannot read")
    case .damaged(let reason): found.append("encrypted file: damaged: \(reason)\(restore)")
    case .unreadable(let detail): found.append("encrypted file: cannot be read: \(detail)")
    }
    return found
  }

  /// `mode` as four octal digits, such as `0600`.
  public static func octal(_ mode: UInt32) -> String {
    let digits = String(mode, radix: 8)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
  }
}

/// The passphrase source of an examination: there never is one, so
/// nothing can ever prompt.
private struct NoPassphrase: PassphraseSource {
  func passphrase(creating: Bool) throws(SecretStoreError) -> SecretBytes {
    throw .passphraseUnavailable
  }
}
