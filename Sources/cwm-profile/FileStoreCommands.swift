import CWMProfile

/// `cwm-profile change-passphrase`: re-encrypts the encrypted file.
enum ChangePassphraseCommand {
  static let specs = [
    OptionSpec(name: "new-passphrase-fd", takesValue: true),
    OptionSpec(name: "new-passphrase-file", takesValue: true),
    OptionSpec(name: "kdf", takesValue: true),
    OptionSpec(name: "help", takesValue: false),
  ]

  static let help = """
    Usage: cwm-profile change-passphrase [--kdf interactive|moderate|sensitive]
                                         [--new-passphrase-fd N | --new-passphrase-file PATH]

    Re-encrypts the encrypted file under a new passphrase and a fresh salt,
    in one atomic replacement. The current passphrase comes from the usual
    places (--passphrase-fd, --passphrase-file, the systemd credential
    cwm-profile-passphrase, CWM_PROFILE_PASSPHRASE, the terminal) and is
    checked first; the new one from --new-passphrase-fd,
    --new-passphrase-file, CWM_PROFILE_NEW_PASSPHRASE, or the terminal,
    asked twice. --kdf sets a new key-derivation strength; without it the
    file keeps its own. The previous generation, which the old passphrase
    still opens, is deleted.
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "change-passphrase")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    try arguments.noPositionals(command: "change-passphrase")
    var strength: KeyDerivationStrength?
    if let name = arguments.value("kdf") {
      guard let chosen = KeyDerivationStrength(rawValue: name) else {
        throw UsageError(
          message: "--kdf must be interactive, moderate or sensitive",
          command: "change-passphrase")
      }
      strength = chosen
    }
    var given = PassphraseOptions()
    for name in ["new-passphrase-fd", "new-passphrase-file"] {
      if let value = arguments.value(name) { try given.set(name, value) }
    }
    let newPassphrase = StandardPassphrase(
      .init(
        fileDescriptor: given.fileDescriptor, file: given.file,
        credentialsDirectory: context.environment["CREDENTIALS_DIRECTORY"], credentialName: nil,
        variable: "CWM_PROFILE_NEW_PASSPHRASE",
        prompt: "New passphrase for the cwm-profile secrets file: "))
    let file = try context.manager().stores.encryptedFile
    let count: Int
    do {
      count = try file.changePassphrase(to: newPassphrase, strength: strength)
    } catch SecretStoreError.passphraseUnavailable where newPassphrase.wasAsked {
      throw CommandFailure(
        message: "change-passphrase needs the new passphrase: give --new-passphrase-fd or "
          + "--new-passphrase-file, set CWM_PROFILE_NEW_PASSPHRASE, or run from a terminal",
        code: .passphraseUnavailable)
    }
    Console.error("cwm-profile: re-encrypted \(secrets(count)) in \(file.path)\n")
    return .success
  }
}

/// `cwm-profile restore-file`: puts the encrypted file's previous
/// generation back.
enum RestoreFileCommand {
  static let specs = [
    OptionSpec(name: "dry-run", takesValue: false), OptionSpec(name: "help", takesValue: false),
  ]

  static let help = """
    Usage: cwm-profile restore-file [--dry-run]

    Every change to the encrypted file keeps the generation before it as
    secrets.cwmsec.previous. This puts that generation back, once it has
    been opened with the passphrase, and keeps the one it replaces as the
    new previous generation, so running it again undoes it. --dry-run only
    checks that the previous generation opens and lists its entries.
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "restore-file")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    try arguments.noPositionals(command: "restore-file")
    let dryRun = arguments.has("dry-run")
    let file = try context.manager().stores.encryptedFile
    let hadFile = file.exists
    let names = try file.restorePrevious(dryRun: dryRun)
    for name in names { Console.out(name + "\n") }
    let restored = "cwm-profile: restored the previous generation (\(secrets(names.count)))"
    Console.error(
      dryRun
        ? "cwm-profile: \(file.previousPath) opens and holds \(secrets(names.count))\n"
        : hadFile
          ? restored + "; the replaced one is now \(file.previousPath)\n" : restored + "\n")
    return .success
  }
}

/// "1 secret", "2 secrets".
func secrets(_ count: Int) -> String { count == 1 ? "1 secret" : "\(count) secrets" }
