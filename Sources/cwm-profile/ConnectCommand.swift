import CWMProfile
import Foundation

/// `cwm-profile connect NAME`: resolves a profile into a validated connection.
enum ConnectCommand {
  static let specs = [
    OptionSpec(name: "format", takesValue: true),
    OptionSpec(name: "api-version", takesValue: true),
    OptionSpec(name: "force", takesValue: false),
    OptionSpec(name: "help", takesValue: false),
  ]

  static let help = """
    Usage: cwm-profile connect NAME [--format summary|json|env|header]
                                    [--api-version V] [--force]

    Looks up the company's codebase, authenticates with the profile's
    method (API key, impersonation token or cookie login) and checks the
    result with GET system/info. When the profile pins no API version, the
    server's major.minor version is used. The connection is cached: later
    calls make no request while it is valid (an impersonation token is
    renewed shortly before it expires).

    Options:
      --format summary  a readable summary without secrets (default)
      --format json     the connection as JSON, credentials included
      --format env      shell export lines, credentials included
      --format header   HTTP header lines, credentials included
      --api-version V   use version V for this call only
      --force           ignore the cache and connect afresh
    """

  enum Format: String { case summary, json, env, header }

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "connect")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    let name = try arguments.onePositional("profile name", command: "connect")
    let formatText = arguments.value("format") ?? "summary"
    guard let format = Format(rawValue: formatText) else {
      throw UsageError(
        message: "--format must be summary, json, env or header, not '\(formatText)'",
        command: "connect")
    }
    if let version = arguments.value("api-version"), APIVersion(version) == nil {
      throw UsageError(
        message: "--api-version expects a version such as 2025.1", command: "connect")
    }
    let connection = try context.manager().connect(
      named: name, options: .init(apiVersion: arguments.value("api-version")),
      force: arguments.has("force"))
    Console.out(render(connection, as: format))
    return .success
  }

  static func render(_ connection: Connection, as format: Format) -> String {
    switch format {
    case .summary: return summary(connection)
    case .json: return json(connection)
    case .env: return environment(connection).map { "export \($0)=\(shellQuoted($1))\n" }.joined()
    case .header:
      return connection.requestHeaders.map { "\($0.name): \($0.value)\n" }.joined()
    }
  }

  static func summary(_ connection: Connection) -> String {
    var lines = [
      "Connected '\(connection.profile)' (\(connection.method.rawValue))",
      "  server:       \(connection.server)",
      "  company:      \(connection.company)",
      "  codebase:     \(connection.codebase)",
      "  base URL:     \(connection.baseURL)",
      "  API version:  \(connection.apiVersion)",
    ]
    if let version = connection.serverVersion { lines.append("  server runs:  \(version)") }
    if connection.fromCache { lines.append("  from cache:   yes (--force to reconnect)") }
    if let expiration = connection.expiration {
      lines.append("  expires:      \(iso8601(expiration))")
    }
    return lines.joined(separator: "\n") + "\n"
  }

  static func json(_ connection: Connection) -> String {
    var headers: [String: String] = [:]
    for header in connection.headers { headers[header.name] = header.value }
    var cookies: [String: String] = [:]
    for cookie in connection.cookies { cookies[cookie.name] = cookie.value }
    let object: [String: Any] = [
      "profile": connection.profile, "server": connection.server, "company": connection.company,
      "codebase": connection.codebase, "baseUrl": connection.baseURL,
      "method": connection.method.rawValue, "apiVersion": connection.apiVersion,
      "headers": headers, "cookies": cookies,
      "expiration": connection.expiration.map { iso8601($0) as Any } ?? NSNull(),
    ]
    let data =
      (try? JSONSerialization.data(
        withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
      ?? Data()
    return String(decoding: data, as: UTF8.self) + "\n"
  }

  /// The variables `--format env` exports, in a fixed order.
  static func environment(_ connection: Connection) -> [(String, String)] {
    var pairs = [
      ("CWM_PROFILE", connection.profile), ("CWM_SERVER", connection.server),
      ("CWM_COMPANY", connection.company), ("CWM_CODEBASE", connection.codebase),
      ("CWM_BASE_URL", connection.baseURL), ("CWM_API_VERSION", connection.apiVersion),
    ]
    if let value = connection.header("Authorization") { pairs.append(("CWM_AUTHORIZATION", value)) }
    if let value = connection.header("clientId") { pairs.append(("CWM_CLIENT_ID", value)) }
    if let value = connection.header("Accept") { pairs.append(("CWM_ACCEPT", value)) }
    if let cookie = connection.requestHeaders.first(where: { $0.name == "Cookie" }) {
      pairs.append(("CWM_COOKIE", cookie.value))
    }
    return pairs
  }

  static func shellQuoted(_ value: String) -> String {
    "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  static func iso8601(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
  }
}
