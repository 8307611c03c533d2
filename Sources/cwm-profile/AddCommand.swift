import CWMProfile

#if canImport(Glibc)
  import Glibc
#endif

/// `cwm-profile add NAME ...`: saves a profile and asks for its private key.
enum AddCommand {
  static let specs = [
    OptionSpec(name: "server", takesValue: true),
    OptionSpec(name: "company", takesValue: true),
    OptionSpec(name: "client-id", takesValue: true),
    OptionSpec(name: "public-key", takesValue: true),
    OptionSpec(name: "member-id", takesValue: true),
    OptionSpec(name: "username", takesValue: true),
    OptionSpec(name: "api-version", takesValue: true),
    OptionSpec(name: "ca-file", takesValue: true),
    OptionSpec(name: "codebase", takesValue: true),
    OptionSpec(name: "store", takesValue: true),
    OptionSpec(name: "help", takesValue: false),
  ]

  static let help = """
    Usage: cwm-profile add NAME --server HOST --company ID --client-id ID
                           --public-key KEY [--member-id MEMBER] [options]
           cwm-profile add NAME --server HOST --company ID --client-id ID
                           --username USER [options]

    Saves a connection profile and stores its private key (or, with
    --username, the member's password). The secret is never taken from an
    argument: it is asked for without echo when standard input is a
    terminal, and otherwise read from standard input.

    Options:
      --server HOST         Manage server: host, host:port or a URL; an
                            IPv6 address in brackets ([2001:db8::1]:8443)
      --company ID          company identifier used at login
      --client-id ID        the integration's client ID
      --public-key KEY      public half of the API key
      --member-id MEMBER    act as this member through impersonation tokens
      --username USER       log in as this member with a password (legacy
                            cookie login; not possible for MFA members)
      --api-version V       pin an API version such as 2025.1 (default: the
                            server's, detected at connect)
      --ca-file PATH        PEM file of certificate authorities to trust
                            instead of the system's
      --codebase NAME       use this codebase instead of looking it up
      --store auto|keyring|file
                            where the private key goes (default: auto, or
                            $CWM_PROFILE_STORE); auto uses the keyring when
                            a Secret Service answers, else the encrypted file
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "add")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    let name = try arguments.onePositional("profile name", command: "add")
    func required(_ option: String) throws -> String {
      guard let value = arguments.value(option) else {
        throw UsageError(message: "missing --\(option)", command: "add")
      }
      return value
    }
    let preference = try storePreference(arguments, context)
    let username = arguments.value("username")
    if username != nil {
      for option in ["public-key", "member-id"] where arguments.value(option) != nil {
        throw UsageError(message: "--username cannot be combined with --\(option)", command: "add")
      }
    }
    var profile = Profile(
      name: name, server: try required("server"), company: try required("company"),
      clientId: try required("client-id"),
      publicKey: username == nil ? try required("public-key") : nil,
      memberId: arguments.value("member-id"), username: username,
      apiVersion: arguments.value("api-version"), caFile: arguments.value("ca-file"),
      codebase: arguments.value("codebase"), store: .file)
    profile = try profile.validated()
    if let caFile = profile.caFile { try checkReadable(caFile) }

    let manager = try context.manager()
    if (try? manager.profiles.profile(named: name)) != nil {
      throw ProfileError.alreadyExists(name: name)
    }
    let choice = try manager.stores.choose(preference)
    if let notice = choice.notice { Console.error("cwm-profile: \(notice)\n") }
    profile.store = choice.kind

    let what = username == nil ? "private key" : "password"
    let prompt = username.map { "Password for \($0) (\(name)): " } ?? "Private key for \(name): "
    let secret: SecretBytes
    switch SecretInput.read(prompt: prompt) {
    case .some(.value(let value)) where !value.isEmpty: secret = value
    case .some(.tooLong(let limit)):
      throw CommandFailure(
        message: "the \(what) on standard input is longer than \(limit / 1024) KiB; "
          + "nothing was saved",
        code: .invalidValue)
    default: throw CommandFailure(message: "no \(what) was given", code: .invalidValue)
    }
    try manager.add(profile, secret: secret)
    Console.error(
      "cwm-profile: added profile '\(name)'; its \(what) is in the "
        + "\(describe(choice.kind, context)).\n")
    return .success
  }

  /// `--store`, else `CWM_PROFILE_STORE`, else `auto`; each named in its
  /// own error.
  static func storePreference(_ arguments: ParsedArguments, _ context: Context) throws
    -> StorePreference
  {
    if let text = arguments.value("store") {
      guard let preference = StorePreference(rawValue: text) else {
        throw UsageError(
          message: "--store must be auto, keyring or file, not '\(text)'", command: "add")
      }
      return preference
    }
    guard let text = context.environment["CWM_PROFILE_STORE"] else { return .auto }
    guard let preference = StorePreference(rawValue: text) else {
      throw CommandFailure(
        message: "CWM_PROFILE_STORE must be auto, keyring or file, not '\(text)'", code: .usage)
    }
    return preference
  }

  /// Refuses a CA file that cannot be read now, rather than at connect.
  static func checkReadable(_ path: String) throws {
    var info = stat()
    guard stat(path, &info) == 0 else {
      throw CommandFailure(
        message: "--ca-file \(path) cannot be read: \(String(cString: strerror(errno)))",
        code: .caFileUnreadable)
    }
    guard info.st_mode & S_IFMT == S_IFREG, access(path, R_OK) == 0 else {
      throw CommandFailure(
        message: "--ca-file \(path) is not a readable file", code: .caFileUnreadable)
    }
  }

  static func describe(_ kind: StoreKind, _ context: Context) -> String {
    switch kind {
    case .keyring: return "keyring"
    case .file: return "encrypted file \(context.paths.secretsFile)"
    case .memory: return "memory store"
    }
  }
}
