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
  /// a leading slash) and `query`, every name and value percent-encoded as
  /// the API expects (`conditions=status/name="Open"` becomes
  /// `conditions=status%2Fname%3D%22Open%22`).
  public func url(_ path: String, query: [(String, String)] = []) throws(ConnectError) -> String {
    var url: String
    if path.contains("://") {
      guard path.hasPrefix(connection.baseURL + "/") else {
        throw .invalidProfile(reason: "a full URL must start with \(connection.baseURL)/")
      }
      url = path
    } else {
      url = connection.baseURL + "/" + path.drop { $0 == "/" }
    }
    guard !url.contains("#"), !url.unicodeScalars.contains(where: { $0.value < 0x21 }) else {
      throw .invalidProfile(reason: "the path must not contain spaces, control characters or '#'")
    }
    let encoded = query.map { "\(formEncoded($0.0))=\(formEncoded($0.1))" }
    if !encoded.isEmpty {
      url += (url.contains("?") ? "&" : "?") + encoded.joined(separator: "&")
    }
    return url
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
    return response
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
  static func nextLink(_ response: HTTPResponse, base: String) throws(ConnectError) -> String? {
    guard let header = response.header("Link") else { return nil }
    var rest = Substring(header)
    while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
      let target = String(rest[rest.index(after: open)..<close])
      let afterTarget = rest[rest.index(after: close)...]
      let end = afterTarget.firstIndex(of: "<") ?? afterTarget.endIndex
      let parameters = afterTarget[..<end].lowercased().replacingOccurrences(of: " ", with: "")
      rest = afterTarget[end...]
      guard parameters.contains("rel=\"next\"") || parameters.contains("rel=next") else {
        continue
      }
      if target.isEmpty { return nil }
      guard target.hasPrefix(base + "/") else {
        throw .unexpectedResponse(
          url: redacted(response.url), reason: "a paging link that leaves \(base)")
      }
      return target
    }
    return nil
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
