import CWMProfile

/// `cwm-profile migrate NAME|--all --to keyring|file`: moves profiles'
/// secrets from one store to the other.
enum MigrateCommand {
  static let specs = [
    OptionSpec(name: "to", takesValue: true),
    OptionSpec(name: "all", takesValue: false),
    OptionSpec(name: "dry-run", takesValue: false),
    OptionSpec(name: "help", takesValue: false),
  ]

  static let help = """
    Usage: cwm-profile migrate NAME --to keyring|file [--dry-run]
           cwm-profile migrate --all --to keyring|file [--dry-run]

    Moves a profile's secrets (private key or password, and any cached
    token) to the other store. Each secret is copied, read back from the
    target and compared, the profile is switched to the target, and only
    then are the secrets deleted from the old store. If anything fails
    before the switch, the old store is left as it was and the copies are
    removed. A profile already in the target store is skipped.

    Options:
      --to keyring|file   the store to move to; the keyring must be usable
      --all               every profile, in name order, stopping at the
                          first failure
      --dry-run           print what would be moved; read no secret and
                          change nothing (a keyring target must be usable)
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "migrate")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    let all = arguments.has("all")
    let name: String?
    if all {
      try arguments.noPositionals(command: "migrate")
      name = nil
    } else {
      name = try arguments.onePositional("profile name (or --all)", command: "migrate")
    }
    guard let targetText = arguments.value("to") else {
      throw UsageError(message: "missing --to keyring|file", command: "migrate")
    }
    guard let target = StoreKind(rawValue: targetText), target != .memory else {
      throw UsageError(
        message: "--to must be keyring or file, not '\(targetText)'", command: "migrate")
    }
    let dryRun = arguments.has("dry-run")
    let manager = try context.manager()
    if let name {
      return try report(manager.migrate(named: name, to: target, dryRun: dryRun))
    }
    var status = ExitCode.success
    let results = try manager.migrateAll(to: target, dryRun: dryRun) { result in
      let code = report(result)
      if status == .success { status = code }
    }
    if results.isEmpty {
      Console.error("cwm-profile: no profiles to migrate\n")
    }
    return status
  }

  /// Prints one profile's result: a dry run's plan on standard output,
  /// what was done on standard error as the other commands do.
  @discardableResult
  static func report(_ result: Migration) -> ExitCode {
    let (name, from, to) = (result.profile, describe(result.from), describe(result.to))
    switch result.outcome {
    case .planned:
      var kinds = result.kinds.map(\.rawValue).joined(separator: ", ")
      if !result.optionalKinds.isEmpty {
        kinds += " (and " + result.optionalKinds.map(\.rawValue).joined(separator: ", ")
        kinds += " if present)"
      }
      Console.out("would move \(name): \(kinds): \(from) -> \(to)\n")
    case .alreadyThere:
      Console.error("cwm-profile: '\(name)' is already in the \(to); skipped\n")
    case .moved:
      let kinds = result.kinds.map(\.rawValue).joined(separator: ", ")
      Console.error("cwm-profile: moved '\(name)' (\(kinds)) from the \(from) to the \(to)\n")
      if let error = result.leftBehind {
        Console.error(
          "cwm-profile: '\(name)' now uses the \(to), but its old copies are still in the "
            + "\(from): \(oneLine(error.description))\n")
        return ExitCode.of(error)
      }
    }
    return .success
  }

  static func describe(_ kind: StoreKind) -> String {
    switch kind {
    case .keyring: return "keyring"
    case .file: return "encrypted file"
    case .memory: return "memory store"
    }
  }
}
