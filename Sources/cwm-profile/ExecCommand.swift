import CWMProfile
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// `cwm-profile exec NAME -- CMD ARGS...`: runs a program with the
/// connection in its environment.
enum ExecCommand {
  static let specs = [
    OptionSpec(name: "api-version", takesValue: true),
    OptionSpec(name: "force", takesValue: false),
    OptionSpec(name: "help", takesValue: false),
  ]

  /// Variables never passed to the program: the encrypted file's
  /// passphrase above all.
  static let withheld = ["CWM_PROFILE_PASSPHRASE", "CWM_PROFILE_NEW_PASSPHRASE"]

  static let help = """
    Usage: cwm-profile exec NAME [--api-version V] [--force] -- CMD [ARGS...]

    Connects the profile (from the cache when it can) and runs CMD with the
    connection in its environment: CWM_PROFILE, CWM_SERVER, CWM_COMPANY,
    CWM_CODEBASE, CWM_BASE_URL, CWM_API_VERSION, CWM_AUTHORIZATION,
    CWM_CLIENT_ID, CWM_ACCEPT, and CWM_COOKIE for cookie login.
    CWM_PROFILE_PASSPHRASE, CWM_PROFILE_NEW_PASSPHRASE and the CWM_
    variables of an outer connection are removed, and a --passphrase-fd is
    closed. CMD replaces cwm-profile in the same
    process, so signals reach it directly and its exit status is the
    result; 127 means CMD was not found, 126 that it could not be run.
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    // Without `--`, the command's own options (`sh -c`) would be taken as
    // ours; say what is missing rather than "unknown option '-c'".
    guard words.contains("--") || words.contains(where: { $0 == "--help" || $0 == "-h" }) else {
      throw UsageError(
        message: "put '--' between the profile name and the command", command: "exec")
    }
    let arguments = try ParsedArguments(words, specs: specs, command: "exec")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    guard let name = arguments.positionals.first else {
      throw UsageError(message: "missing profile name", command: "exec")
    }
    let command = Array(arguments.positionals.dropFirst())
    guard !command.isEmpty else {
      throw UsageError(message: "missing the command to run after '--'", command: "exec")
    }
    if !arguments.sawTerminator || arguments.positionalsBeforeTerminator != 1 {
      throw UsageError(
        message: "put '--' between the profile name and the command", command: "exec")
    }
    let connection = try context.manager().connect(
      named: name, options: .init(apiVersion: arguments.value("api-version")),
      force: arguments.has("force"))

    var environment = context.environment
    for key in withheld { environment[key] = nil }
    for key in environment.keys where key.hasPrefix("CWM_") && !key.hasPrefix("CWM_PROFILE_") {
      environment[key] = nil
    }
    for (key, value) in ConnectCommand.environment(connection) { environment[key] = value }
    // A passphrase descriptor that was not needed (a keyring profile) must
    // not stay open in the program.
    if let fd = context.passphrase.fileDescriptor { close(fd) }
    return replaceProcess(command, environment: environment)
  }

  /// `execvp` with a prepared environment; returns only on failure.
  static func replaceProcess(_ command: [String], environment: [String: String]) -> ExitCode {
    let argv = command.map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for pointer in argv + envp { free(pointer) }
    }
    ProcessHardening.restoreForChild()
    var failure = ENOENT
    for path in candidates(command[0], searchPath: environment["PATH"]) {
      execve(path, argv, envp)
      // Like a shell: keep looking past a missing file, remember a refusal.
      if errno != ENOENT && errno != ENOTDIR { failure = errno }
    }
    let reason = String(cString: strerror(failure))
    let missing = failure == ENOENT
    Console.error("cwm-profile: cannot run \(command[0]): \(reason)\n")
    return missing ? .commandNotFound : .commandNotExecutable
  }

  /// Where to look for `name`: itself when it contains a slash, otherwise
  /// each folder of the child's `PATH`.
  static func candidates(_ name: String, searchPath: String?) -> [String] {
    if name.contains("/") { return [name] }
    let folders = (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(
      separator: ":", omittingEmptySubsequences: false)
    return folders.map { ($0.isEmpty ? "." : String($0)) + "/" + name }
  }
}
