import CWMProfile
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// `cwm-profile api NAME [METHOD] PATH`: one authenticated request, or
/// every page of a list.
enum ApiCommand {
  static let specs = [
    OptionSpec(name: "data", takesValue: true),
    OptionSpec(name: "query", takesValue: true, repeatable: true),
    OptionSpec(name: "all", takesValue: false),
    OptionSpec(name: "forward-only", takesValue: false),
    OptionSpec(name: "api-version", takesValue: true),
    OptionSpec(name: "force", takesValue: false),
    OptionSpec(name: "help", takesValue: false),
  ]

  static let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

  static let help = """
    Usage: cwm-profile api NAME [METHOD] PATH [--query K=V]... [--data JSON|@FILE|-]
                                              [--all [--forward-only]]
                                              [--api-version V] [--force]

    Sends an authenticated request to the profile's API and prints the
    JSON answer. PATH is relative to the base URL (service/tickets), or a
    full URL under it; '.' and '..' segments (also percent-encoded) and
    backslashes are refused. METHOD is GET, POST, PUT, PATCH or DELETE; the
    default is GET, or POST when --data is given. An answer that is not
    JSON is an error (exit 31).

    Options:
      --query K=V       a query parameter, URL-encoded for you; repeatable
                        (--query 'conditions=status/name="Open"')
      --data JSON       a request body: the JSON itself, @FILE to read a
                        file, or - to read standard input
      --all             follow the Link header's next pages and print one
                        JSON array, writing each page as it arrives; a
                        next link that cannot be read or leaves the base
                        URL ends it with an error (exit 31)
      --forward-only    with --all, ask for forward-only paging
      --api-version V   use version V for this call only
      --force           ignore the cached connection
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "api")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    let positionals = arguments.positionals
    guard positionals.count == 2 || positionals.count == 3 else {
      throw UsageError(
        message: positionals.count < 2 ? "missing profile name or path" : "too many arguments",
        command: "api")
    }
    let name = positionals[0]
    let path = positionals[positionals.count - 1]
    var method = arguments.value("data") == nil ? "GET" : "POST"
    if positionals.count == 3 {
      method = positionals[1].uppercased()
      guard methods.contains(method) else {
        throw UsageError(message: "unknown method '\(positionals[1])'", command: "api")
      }
    }
    let query = try arguments.all("query").map { pair throws(UsageError) -> (String, String) in
      guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
        throw UsageError(message: "--query expects K=V, not '\(pair)'", command: "api")
      }
      return (String(pair[..<equals]), String(pair[pair.index(after: equals)...]))
    }
    let body = try arguments.value("data").map(readBody)
    if arguments.has("forward-only") && !arguments.has("all") {
      throw UsageError(message: "--forward-only needs --all", command: "api")
    }
    if arguments.has("all") && method != "GET" {
      throw UsageError(message: "--all works with GET only", command: "api")
    }
    let options = ConnectEngine.Options(apiVersion: arguments.value("api-version"))
    do {
      // A path that could lead out of the base URL is refused before connecting.
      try ManageClient.checkPath(path)
      try context.manager().withClient(
        named: name, options: options, force: arguments.has("force")
      ) { client in
        if arguments.has("all") {
          try printAllPages(
            client, path: path, query: query, forwardOnly: arguments.has("forward-only"))
        } else {
          let response = try client.send(method, path, query: query, body: body)
          let text = String(decoding: response.body, as: UTF8.self)
          Console.out(text.isEmpty || text.hasSuffix("\n") ? text : text + "\n")
        }
      }
    } catch ConnectError.invalidPath(let reason) {
      throw UsageError(message: reason, command: "api")
    }
    return .success
  }

  /// Writes one JSON array made of every page's elements, page by page.
  static func printAllPages(
    _ client: ManageClient, path: String, query: [(String, String)], forwardOnly: Bool
  ) throws {
    var first = true
    var started = false
    try client.eachPage(path, query: query, forwardOnly: forwardOnly) { response in
      let text = String(decoding: response.body, as: UTF8.self).trimmingCharacters(
        in: .whitespacesAndNewlines)
      guard text.hasPrefix("["), text.hasSuffix("]") else {
        throw ConnectError.unexpectedResponse(
          url: response.url, reason: "a page that is not a JSON array")
      }
      if !started {
        Console.out("[")
        started = true
      }
      let inner = text.dropFirst().dropLast().trimmingCharacters(in: .whitespacesAndNewlines)
      if !inner.isEmpty {
        Console.out((first ? "\n" : ",\n") + inner)
        first = false
      }
    }
    Console.out(started ? "\n]\n" : "[]\n")
  }

  /// The body given to `--data`: the text itself, `@FILE`, or `-` for stdin.
  static func readBody(_ value: String) throws -> [UInt8] {
    if value == "-" { return readAll(STDIN_FILENO) }
    if value.hasPrefix("@") {
      let path = String(value.dropFirst())
      let fd = open(path, O_RDONLY | O_CLOEXEC)
      guard fd >= 0 else {
        throw CommandFailure(
          message: "cannot read \(path): \(String(cString: strerror(errno)))", code: .invalidValue)
      }
      defer { close(fd) }
      return readAll(fd)
    }
    return Array(value.utf8)
  }

  private static func readAll(_ fd: Int32) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      bytes += chunk[0..<n]
    }
    return bytes
  }
}
