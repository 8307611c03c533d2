import CWMProfile

/// `cwm-profile unlock`: asks the keyring to unlock, with its own prompt.
enum UnlockCommand {
  static let specs = [
    OptionSpec(name: "timeout", takesValue: true), OptionSpec(name: "help", takesValue: false),
  ]

  static let help = """
    Usage: cwm-profile unlock [--timeout SECONDS]

    Asks the Secret Service to unlock your default keyring. On a desktop
    the keyring shows its own password prompt; cwm-profile never sees the
    password. Other commands never do this by themselves: a locked keyring
    makes them fail with exit code 23 instead of popping up a prompt in
    the middle of a script. --timeout is how long to wait for the prompt
    to be answered (default 120 seconds, at most 3600). A prompt that is
    dismissed, or that the keyring cannot show (a keyring running without
    a desktop to show it on), is exit code 25; with no session bus at all
    it is 20, with no keyring on the bus 21.
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "unlock")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    try arguments.noPositionals(command: "unlock")
    var timeout = 120.0
    if let text = arguments.value("timeout") {
      guard let value = Double(text), (1...3600).contains(value) else {
        throw UsageError(
          message: "--timeout must be a number of seconds from 1 to 3600", command: "unlock")
      }
      timeout = value
    }
    let unlocked = try KeyringSecretStore.unlockDefault(timeout: timeout, logger: context.logger)
    Console.error(
      unlocked
        ? "cwm-profile: the keyring is unlocked\n"
        : "cwm-profile: the keyring was already unlocked\n")
    return .success
  }
}
