import Foundation

/// Makes authenticated API requests with a `Connection`: the same code
/// path for the command line's `api` and for Swift programs.
public final class ManageClient: @unchecked Sendable {
  public let connection: Connection
  private let transport: HTTPTransport
  /// How many requests this client has sent.
  public private(set) var requestCount = 0

  public init(connection: Connection, transport: HTTPTransport) {
    self.connection = connection
    self.transport = transport
  }

  /// The absolute URL for `path` (relative to the base URL, with or without
  /// a leading slash, or a full URL under it) and `query`, every name and
  /// value percent-encoded as the API expects (`conditions=status/name="Open"`
  /// becomes `conditions=status%2Fname%3D%22Open%22`).
  ///
  /// - Throws: `.invalidPath` when `path` is not under the base URL or
  ///   fails `checkPath`.
  public func url(_ path: String, query: [(String, String)] = []) throws(ConnectError) -> String {
    try Self.checkPath(path)
    var url: String
    if path.contains("://") {
      guard path.hasPrefix(connection.baseURL + "/") else {
        throw .invalidPath(
          reason: "a full URL must be under the base URL \(connection.baseURL)/")
      }
      url = path
    } else {
      url = connection.baseURL + "/" + path.drop { $0 == "/" }
    }
    let encoded = query.map { "\(formEncoded($0.0))=\(formEncoded($0.1))" }
    if !encoded.isEmpty {
      url += (url.contains("?") ? "&" : "?") + encoded.joined(separator: "&")
    }
    return url
  }

  /// Refuses a path or full URL that a server or libcurl could resolve to
  /// somewhere outside the base URL, before anything is sent: one with `.`
  /// or `..` segments, also percent-encoded (`%2e%2e`, once or more) or in
  /// compatibility forms such as full-width dots, with a backslash (which
  /// some servers read as `/`) or with invalid percent-encoding; and one
  /// with spaces, control characters or `#`. The query is not looked at.
  ///
  /// - Throws: `.invalidPath` saying what is wrong.
  public static func checkPath(_ path: String) throws(ConnectError) {
    guard !path.contains("#"), !path.unicodeScalars.contains(where: isUnsafeInURL) else {
      throw .invalidPath(reason: "the path must not contain spaces, control characters or '#'")
    }
    guard !mayLeaveItsPath(path) else {
      throw .invalidPath(
        reason: "the path must not contain '.' or '..' segments, backslashes or invalid "
          + "percent-encoding")
    }
  }

  private static func isUnsafeInURL(_ scalar: Unicode.Scalar) -> Bool {
    scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
  }

  /// Whether the part of `url` before its query holds a dot segment or a
  /// backslash, as written or after percent-decoding (repeated, since some
  /// servers decode twice) and compatibility folding.
  static func mayLeaveItsPath(_ url: String) -> Bool {
    var path = String(url.prefix { $0 != "?" && $0 != "#" })
    for _ in 0..<4 {
      let folded = path.precomposedStringWithCompatibilityMapping
      if folded.contains("\\") { return true }
      let segments = folded.split(separator: "/", omittingEmptySubsequences: false)
      // `..;x` is `..` to servers that take `;` as the start of parameters.
      if segments.contains(where: { [".", ".."].contains($0.prefix { $0 != ";" }) }) {
        return true
      }
      guard path.contains("%") else { return false }
      guard let decoded = path.removingPercentEncoding else { return true }
      path = decoded
    }
    return true
  }

  /// Sends one request and returns the answer when its status is 2xx.
  ///
  /// - Throws: `ConnectError` with the server's code and message otherwise.
  public func send(
    _ method: String = "GET", _ path: String, query: [(String, String)] = [],
    body: [UInt8]? = nil, headers: [HTTPHeader] = []
  ) throws(ConnectError) -> HTTPResponse {
    try send(method, absolute: try url(path, query: query), body: body, headers: headers)
  }

  private func send(
    _ method: String, absolute url: String, body: [UInt8]?, headers: [HTTPHeader]
  ) throws(ConnectError) -> HTTPResponse {
    var all = connection.requestHeaders + headers
    if body != nil, !all.contains(where: { $0.name.lowercased() == "content-type" }) {
      all.append(HTTPHeader("Content-Type", "application/json"))
    }
    requestCount += 1
    let response: HTTPResponse
    do {
      response = try transport.send(
        HTTPRequest(method: method.uppercased(), url: url, headers: all, body: body))
    } catch {
      throw .transport(error)
    }
    guard (200...299).contains(response.status) else {
      throw ConnectEngine.statusError(response)
    }
    try Self.checkJSON(response)
    return response
  }

  /// Refuses a 2xx answer that is not JSON, such as a sign-in page served
  /// with status 200: the API answers in JSON. An empty body (204) is fine.
  static func checkJSON(_ response: HTTPResponse) throws(ConnectError) {
    let isHTML = response.header("Content-Type")?.lowercased().contains("html") == true
    let text = response.body.drop { [0x20, 0x09, 0x0A, 0x0D].contains($0) }
    if text.isEmpty && !isHTML { return }
    guard isHTML || text.first == UInt8(ascii: "<") else {
      let parsed = try? JSONSerialization.jsonObject(
        with: Data(response.body), options: [.fragmentsAllowed])
      guard parsed == nil else { return }
      throw .unexpectedResponse(url: response.url, reason: "the answer is not JSON")
    }
    throw .unexpectedResponse(url: response.url, reason: "an HTML page where JSON was expected")
  }

  /// Fetches every page of a list, handing each page's answer to `page`
  /// as it arrives, so that no more than one page is held at a time.
  ///
  /// Pages are followed through the `Link` header's `rel="next"` URL, which
  /// must stay on the connection's host. With `forwardOnly`, the request
  /// asks for forward-only paging, where an empty next link ends the list.
  public func eachPage(
    _ path: String, query: [(String, String)] = [], forwardOnly: Bool = false,
    maxPages: Int = 100_000, _ page: (HTTPResponse) throws -> Void
  ) throws {
    var query = query
    if !query.contains(where: { $0.0 == "pageSize" }) { query.append(("pageSize", "1000")) }
    var next: String? = try url(path, query: query)
    let headers = forwardOnly ? [HTTPHeader("pagination-type", "forward-only")] : []
    var seen: Set<String> = []
    while let current = next {
      guard seen.count < maxPages, seen.insert(current).inserted else {
        throw ConnectError.unexpectedResponse(
          url: redacted(current), reason: "paging does not end (a next link repeats)")
      }
      let response = try send("GET", absolute: current, body: nil, headers: headers)
      try page(response)
      next = try Self.nextLink(response, base: connection.baseURL)
    }
  }

  /// The `rel="next"` target of a `Link` header, nil when there is none or
  /// it is empty.
  ///
  /// - Throws: `.unexpectedResponse` when the header mentions `next` but
  ///   cannot be read (the rest of the list would be lost without a word),
  ///   or when the next link is not a URL under `base`.
  static func nextLink(_ response: HTTPResponse, base: String) throws(ConnectError) -> String? {
    guard let header = response.header("Link") else { return nil }
    guard let links = parseLinks(header) else {
      guard !header.lowercased().contains("next") else {
        throw .unexpectedResponse(url: response.url, reason: "a Link header that cannot be read")
      }
      return nil
    }
    guard let target = links.first(where: { $0.relations.contains("next") })?.target,
      !target.isEmpty
    else { return nil }
    guard !target.contains("#"), !target.unicodeScalars.contains(where: isUnsafeInURL) else {
      throw .unexpectedResponse(url: response.url, reason: "a paging link that is not a URL")
    }
    guard target.hasPrefix(base + "/"), !mayLeaveItsPath(target) else {
      throw .unexpectedResponse(url: response.url, reason: "a paging link that leaves \(base)")
    }
    return target
  }

  /// The links of a `Link` header (`<URL>; rel="next", <URL>; rel=last`)
  /// with their relation types in lower case; nil when it is malformed.
  static func parseLinks(_ header: String) -> [(target: String, relations: [String])]? {
    let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    var links: [(target: String, relations: [String])] = []
    var rest = Substring(header)
    while true {
      rest = rest.drop { blank($0) || $0 == "," }
      guard let first = rest.first else { return links }
      guard first == "<", let close = rest.firstIndex(of: ">") else { return nil }
      let target = rest[rest.index(after: rest.startIndex)..<close]
      guard !target.contains("<") else { return nil }
      rest = rest[rest.index(after: close)...]
      var relations: [String] = []
      while true {
        rest = rest.drop(while: blank)
        guard rest.first == ";" else { break }
        rest = rest.dropFirst().drop(while: blank)
        let name = rest.prefix { !"=;,".contains($0) && !blank($0) }
        guard !name.isEmpty else { return nil }
        rest = rest[name.endIndex...].drop(while: blank)
        var value = Substring("")
        if rest.first == "=" {
          rest = rest.dropFirst().drop(while: blank)
          if rest.first == "\"" {
            let quoted = rest.dropFirst()
            guard let end = quoted.firstIndex(of: "\"") else { return nil }
            value = quoted[..<end]
            rest = quoted[quoted.index(after: end)...]
          } else {
            value = rest.prefix { !";,".contains($0) && !blank($0) }
            rest = rest[value.endIndex...]
          }
        }
        if name.lowercased() == "rel" {
          relations += value.lowercased().split(separator: " ").map(String.init)
        }
      }
      guard rest.isEmpty || rest.first == "," else { return nil }
      links.append((String(target), relations))
    }
  }
}

extension ProfileManager {
  /// Runs `body` with a client for the profile's connection. When a cached
  /// connection's first request fails with 401, or with 404 on a cloud
  /// site (whose codebase moves with each release), the connection is
  /// rebuilt once and `body` runs again.
  public func withClient<R>(
    named name: String, options: ConnectEngine.Options = .init(), force: Bool = false,
    _ body: (ManageClient) throws -> R
  ) throws -> R {
    let profile = try profiles.profile(named: name)
    let connection = try connect(named: name, options: options, force: force)
    let client = ManageClient(connection: connection, transport: engine.transport(for: profile))
    do {
      return try body(client)
    } catch let error as ConnectError {
      guard connection.fromCache, client.requestCount == 1 else { throw error }
      switch error {
      case .authenticationFailed: break
      case .notFound where connection.isCloud == true: break
      default: throw error
      }
      let fresh = try connect(named: name, options: options, force: true)
      return try body(ManageClient(connection: fresh, transport: engine.transport(for: profile)))
    }
  }
}
