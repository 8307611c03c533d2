import CWMProfile
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

let version = "0.1.0"

let overview = """
  Usage: cwm-profile [--verbose] COMMAND [ARGS...]

  Keeps ConnectWise Manage connection profiles, with their private keys in
  the GNOME keyring or an encrypted file, and turns them into ready,
  validated API connections.

  Commands:
    add NAME ...      save a profile; the private key is asked for
    connect NAME      resolve a profile into a validated connection
    list              list the profiles
    show NAME         show a profile's settings (never secrets)
    remove NAME       delete a profile and its secrets
    disconnect NAME   forget a profile's cached connection
    api NAME [METHOD] PATH
                      an authenticated request; --all follows paging
    exec NAME -- CMD  run CMD with the connection in its environment
    migrate NAME|--all --to keyring|file
                      move secrets to the other store
    doctor            check the keyring, the encrypted file and where
                      each profile's secrets are; changes nothing
    unlock            ask the keyring to unlock, with its own prompt
    change-passphrase re-encrypt the encrypted file under a new passphrase
    restore-file      put the encrypted file's previous generation back
    help [COMMAND]    show help for a command

  Options (also accepted after the command):
    --verbose             print what is done on stderr (never secrets):
                          requests, retries, the cached connection used
    --passphrase-fd N     read the encrypted file's passphrase from
                          descriptor N
    --passphrase-file PATH
                          read it from a file only you can read (relative:
                          under $CREDENTIALS_DIRECTORY when that is set)

  Options:
    --version         print the version
    -h, --help        show this help

  Environment:
    CWM_PROFILE_STORE            default for add --store (auto|keyring|file)
    CWM_PROFILE_PASSPHRASE       passphrase of the encrypted file
    CREDENTIALS_DIRECTORY        systemd credentials; one named
                                 cwm-profile-passphrase is used
    CWM_PROFILE_KDF              key derivation for a new encrypted file:
                                 interactive (default), moderate, sensitive
    CWM_PROFILE_KEYRING_TIMEOUT  seconds a keyring call may take (default 10)
    CWM_PROFILE_HTTP_TIMEOUT     seconds an HTTP exchange may take (default 60)
    CWM_PROFILE_CACHE_TTL        seconds a cached connection is trusted
                                 (default 3600)
    CWM_PROFILE_RETRIES          retries of 429, 5xx and resets (default 3)
    CWM_PROFILE_RETRY_DELAY      first retry's wait in seconds (default 1)
    CWM_PROFILE_NEW_PASSPHRASE   the new passphrase for change-passphrase
    XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_CACHE_HOME
                                 where profiles, the encrypted file and
                                 cached connections live

  Exit codes are listed in docs/commands.md.
  """

typealias Command = (_ words: [String], _ context: Context) throws -> ExitCode

let commands: [String: (run: Command, help: String)] = [
  "add": (AddCommand.run, AddCommand.help),
  "connect": (ConnectCommand.run, ConnectCommand.help),
  "list": (ListCommand.run, ListCommand.help),
  "show": (ShowCommand.run, ShowCommand.help),
  "remove": (RemoveCommand.run, RemoveCommand.help),
  "disconnect": (DisconnectCommand.run, DisconnectCommand.help),
  "api": (ApiCommand.run, ApiCommand.help),
  "exec": (ExecCommand.run, ExecCommand.help),
  "migrate": (MigrateCommand.run, MigrateCommand.help),
  "doctor": (DoctorCommand.run, DoctorCommand.help),
  "unlock": (UnlockCommand.run, UnlockCommand.help),
  "change-passphrase": (ChangePassphraseCommand.run, ChangePassphraseCommand.help),
  "restore-file": (RestoreFileCommand.run, RestoreFileCommand.help),
]

/// Runs one command line and returns the exit code; every error becomes
/// one line on stderr.
@MainActor func main(_ words: [String]) -> ExitCode {
  var words = words
  // --verbose is global but accepted after the command too, before any `--`.
  let end = words.firstIndex(of: "--") ?? words.endIndex
  var verbose = words[..<end].contains("--verbose")
  if verbose { words.remove(at: words[..<end].firstIndex(of: "--verbose")!) }
  let passphrase: PassphraseOptions
  do {
    passphrase = try PassphraseOptions.extract(from: &words)
  } catch {
    Console.error("cwm-profile: \(error.message)\nRun 'cwm-profile --help' for usage.\n")
    return .usage
  }
  while let first = words.first, first.hasPrefix("-") {
    words.removeFirst()
    switch first {
    case "--verbose", "-v": verbose = true
    case "--version":
      guard words.isEmpty else {
        Console.error("cwm-profile: --version takes no arguments\n")
        return .usage
      }
      Console.out("cwm-profile \(version)\n")
      return .success
    case "--help", "-h":
      Console.out(overview + "\n")
      return .success
    default:
      Console.error("cwm-profile: unknown option '\(first)'\nRun 'cwm-profile --help' for usage.\n")
      return .usage
    }
  }
  guard let name = words.first else {
    Console.error(overview + "\n")
    return .usage
  }
  let rest = Array(words.dropFirst())
  if name == "help" {
    guard let topic = rest.first, topic != "--help", topic != "-h" else {
      Console.out(overview + "\n")
      return .success
    }
    guard let command = commands[topic], rest.count == 1 else {
      Console.error(
        "cwm-profile: no help for '\(rest.joined(separator: " "))'\n"
          + "Run 'cwm-profile --help' for the commands.\n")
      return .usage
    }
    Console.out(command.help + "\n")
    return .success
  }
  guard let command = commands[name] else {
    Console.error("cwm-profile: unknown command '\(name)'\nRun 'cwm-profile --help' for usage.\n")
    return .usage
  }
  let context = Context(
    environment: ProcessInfo.processInfo.environment, verbose: verbose, passphrase: passphrase)
  do {
    return try command.run(rest, context)
  } catch {
    report(error, command: name)
    return ExitCode.of(error)
  }
}

func report(_ error: Error, command: String) {
  switch error {
  case let usage as UsageError:
    Console.error(
      "cwm-profile: \(usage.message)\nRun 'cwm-profile \(usage.command ?? command) --help' for usage.\n"
    )
  case let failure as CommandFailure:
    Console.error("cwm-profile: \(failure.message)\n")
  case let error as CustomStringConvertible:
    Console.error("cwm-profile: \(oneLine(error.description))\n")
  default:
    Console.error("cwm-profile: unexpected error\n")
  }
}

/// Keeps an error to one line whatever a server put in its message.
func oneLine(_ text: String) -> String {
  text.split(whereSeparator: \.isNewline).joined(separator: " ")
}

// A crash while secrets are in memory must not leave them in a core file,
// and other processes of the same user must not read this one's memory.
ProcessHardening.apply()
exit(main(Array(CommandLine.arguments.dropFirst())).rawValue)
