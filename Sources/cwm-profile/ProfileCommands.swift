import CWMProfile
import Foundation

/// `cwm-profile list`: one line per profile.
enum ListCommand {
  static let specs = [
    OptionSpec(name: "format", takesValue: true), OptionSpec(name: "help", takesValue: false),
  ]

  static let help = """
    Usage: cwm-profile list [--format text|json]

    Lists the profiles: name, method, company, server and where the secret is.
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "list")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    try arguments.noPositionals(command: "list")
    let format = arguments.value("format") ?? "text"
    guard format == "text" || format == "json" else {
      throw UsageError(message: "--format must be text or json", command: "list")
    }
    let profiles = try ProfileStore(paths: context.paths).all()
    if format == "json" {
      Console.out(ShowCommand.json(profiles.map(ShowCommand.fields)))
      return .success
    }
    guard !profiles.isEmpty else {
      Console.error("cwm-profile: no profiles yet; add one with 'cwm-profile add'\n")
      return .success
    }
    let rows =
      [["NAME", "METHOD", "COMPANY", "SERVER", "STORE"]]
      + profiles.map {
        [$0.name, $0.method.rawValue, $0.company, $0.server, $0.store.rawValue]
      }
    let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
      let padded = row.enumerated().map { index, cell in
        index == row.count - 1
          ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
      }
      Console.out(padded.joined() + "\n")
    }
    return .success
  }
}

/// `cwm-profile show NAME`: a profile's settings, without secrets.
enum ShowCommand {
  static let specs = [
    OptionSpec(name: "format", takesValue: true), OptionSpec(name: "help", takesValue: false),
  ]

  static let help = """
    Usage: cwm-profile show NAME [--format text|json]

    Shows a profile's settings. Secrets are never shown.
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "show")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    let name = try arguments.onePositional("profile name", command: "show")
    let format = arguments.value("format") ?? "text"
    guard format == "text" || format == "json" else {
      throw UsageError(message: "--format must be text or json", command: "show")
    }
    let profile = try ProfileStore(paths: context.paths).profile(named: name)
    let pairs = fields(profile)
    if format == "json" {
      Console.out(json(pairs))
    } else {
      for (key, value) in pairs {
        Console.out(
          "\(key + ":")".padding(toLength: 14, withPad: " ", startingAt: 0) + value + "\n")
      }
    }
    return .success
  }

  /// The settings shown, in order; unset options are left out.
  static func fields(_ profile: Profile) -> [(String, String)] {
    var pairs: [(String, String)] = [
      ("name", profile.name), ("method", profile.method.rawValue), ("server", profile.server),
      ("company", profile.company), ("clientId", profile.clientId),
    ]
    let optional: [(String, String?)] = [
      ("publicKey", profile.publicKey), ("memberId", profile.memberId),
      ("username", profile.username), ("apiVersion", profile.apiVersion),
      ("codebase", profile.codebase), ("caFile", profile.caFile),
    ]
    pairs += optional.compactMap { key, value in value.map { (key, $0) } }
    pairs.append(("store", profile.store.rawValue))
    return pairs
  }

  static func json(_ objects: [[(String, String)]]) -> String {
    let array = objects.map { Dictionary($0, uniquingKeysWith: { a, _ in a }) }
    return encode(array)
  }

  static func json(_ pairs: [(String, String)]) -> String {
    encode(Dictionary(pairs, uniquingKeysWith: { a, _ in a }))
  }

  private static func encode(_ value: Any) -> String {
    let data =
      (try? JSONSerialization.data(
        withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
      ?? Data()
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}

/// `cwm-profile remove NAME`: deletes a profile and its secrets.
enum RemoveCommand {
  static let specs = [OptionSpec(name: "help", takesValue: false)]

  static let help = """
    Usage: cwm-profile remove NAME

    Deletes the profile and every secret it has in its store. When the
    store cannot be reached (a locked keyring, a wrong passphrase), nothing
    is deleted.
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "remove")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    let name = try arguments.onePositional("profile name", command: "remove")
    try context.manager().remove(named: name)
    Console.error("cwm-profile: removed profile '\(name)' and its secrets\n")
    return .success
  }
}

/// `cwm-profile disconnect NAME`: forgets the cached connection.
enum DisconnectCommand {
  static let specs = [OptionSpec(name: "help", takesValue: false)]

  static let help = """
    Usage: cwm-profile disconnect NAME

    Forgets the profile's cached connection (and any impersonation token
    or login session in its store). The next connect starts afresh.
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "disconnect")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    let name = try arguments.onePositional("profile name", command: "disconnect")
    let forgot = try context.manager().disconnect(named: name)
    Console.error(
      forgot
        ? "cwm-profile: forgot the cached connection of '\(name)'\n"
        : "cwm-profile: '\(name)' had no cached connection\n")
    return .success
  }
}
