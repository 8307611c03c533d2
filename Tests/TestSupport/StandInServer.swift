import Foundation

/// What the stand-in Manage server knows. The defaults match the server's own.
public struct StandInConfig: Encodable, Sendable {
  public struct Company: Encodable, Sendable {
    /// With its trailing slash, as company info reports it: `v2025_1/`.
    public var codebase: String
    public var isCloud: Bool
    /// `SiteUrl` in company info; nil answers with the Host the request used.
    public var siteUrl: String?

    public init(codebase: String, isCloud: Bool, siteUrl: String? = nil) {
      self.codebase = codebase
      self.isCloud = isCloud
      self.siteUrl = siteUrl
    }
  }

  public struct Credential: Encodable, Sendable {
    public var company: String
    public var publicKey: String
    public var privateKey: String
    /// Authenticates, then gets 403 from every API call.
    public var forbidden: Bool
    /// May ask for impersonation tokens; without it, 403 Security.
    public var canImpersonate: Bool

    public init(
      company: String, publicKey: String, privateKey: String, forbidden: Bool = false,
      canImpersonate: Bool = true
    ) {
      self.company = company
      self.publicKey = publicKey
      self.privateKey = privateKey
      self.forbidden = forbidden
      self.canImpersonate = canImpersonate
    }
  }

  /// A member who signs in on the web login (cookie authentication).
  public struct User: Encodable, Sendable {
    public var company: String
    public var username: String
    public var password: String
    /// Members with MFA cannot use the JSON login: it answers `{"Success":false}`.
    public var mfa: Bool

    public init(company: String, username: String, password: String, mfa: Bool = false) {
      self.company = company
      self.username = username
      self.password = password
      self.mfa = mfa
    }
  }

  /// What one request to a path with injected failures gets instead of its answer.
  public enum FailureStep: Encodable, Sendable, Equatable {
    /// That status with the JSON body `{"code":"Test","message":"injected STATUS"}`.
    case status(Int)
    /// 429 with a `Retry-After` header, as a rate-limiting front end answers.
    case tooMany(retryAfter: String)
    /// That status with `htmlBody` as a `text/html` page.
    case html(status: Int)
    /// No answer: the connection is reset once the request has been read.
    case reset
    /// That status with `body` as JSON and extra headers, such as a page
    /// whose `Link` header a test writes itself.
    case answer(status: Int, body: String, headers: [String: String])

    /// The page an `.html` step answers with.
    public static let htmlBody = "<html><body><h1>Server Error</h1><p>oops</p></body></html>"

    private enum CodingKeys: String, CodingKey {
      case status, retryAfter, body, contentType, headers
    }

    public func encode(to encoder: Encoder) throws {
      switch self {
      case .status(let status):
        var container = encoder.singleValueContainer()
        try container.encode(status)
      case .tooMany(let retryAfter):
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(429, forKey: .status)
        try container.encode(retryAfter, forKey: .retryAfter)
      case .html(let status):
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status, forKey: .status)
        try container.encode(Self.htmlBody, forKey: .body)
        try container.encode("text/html", forKey: .contentType)
      case .reset:
        var container = encoder.singleValueContainer()
        try container.encode("reset")
      case .answer(let status, let body, let headers):
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status, forKey: .status)
        try container.encode(body, forKey: .body)
        try container.encode(headers, forKey: .headers)
      }
    }
  }

  /// A redirect answered for a path before anything else (authentication included).
  public struct Redirect: Encodable, Sendable {
    /// The `Location`; `{host}` becomes the host the request used (without
    /// its port), `{port}` the port the server listens on.
    public var to: String
    public var status: Int

    public init(to: String, status: Int = 302) {
      self.to = to
      self.status = status
    }
  }

  public var clientId: String
  /// `version` in system/info, such as `v2025.1.99999`.
  public var version: String
  public var companies: [String: Company]
  /// Companies whose company info is an HTML page with status 200.
  public var htmlCompanies: [String]
  public var credentials: [Credential]
  /// Member identifiers that impersonation tokens can be issued for.
  public var members: [String]
  /// How long an impersonation token lasts.
  public var tokenLifetimeSeconds: Int
  /// Members who can sign in on the web login.
  public var users: [User]
  /// `service/tickets` holds tickets 1...tickets (plus those POSTed).
  public var tickets: Int
  /// Steps injected into requests to a path (without its query), one a request,
  /// in order; once used up, the path answers normally.
  public var failures: [String: [FailureStep]]
  /// Redirects by path (without its query).
  public var redirects: [String: Redirect]

  public init(
    clientId: String = "11111111-2222-3333-4444-555555555555",
    version: String = "v2025.1.99999",
    companies: [String: Company] = [
      "acme": Company(codebase: "v2025_1/", isCloud: true),
      "onprem": Company(codebase: "v4_6_release/", isCloud: false),
    ],
    htmlCompanies: [String] = ["htmlco"],
    credentials: [Credential] = [
      Credential(company: "acme", publicKey: "PUB", privateKey: "PRIV")
    ],
    members: [String] = ["jdoe"],
    tokenLifetimeSeconds: Int = 3600,
    users: [User] = [],
    tickets: Int = 60,
    failures: [String: [FailureStep]] = [:],
    redirects: [String: Redirect] = [:]
  ) {
    self.clientId = clientId
    self.version = version
    self.companies = companies
    self.htmlCompanies = htmlCompanies
    self.credentials = credentials
    self.members = members
    self.tokenLifetimeSeconds = tokenLifetimeSeconds
    self.users = users
    self.tickets = tickets
    self.failures = failures
    self.redirects = redirects
  }
}

/// A change to a running stand-in's config (`StandInServer.reconfigure`): the
/// keys set here replace the server's, except `companies`, which is merged
/// company by company. Setting `failures` starts their steps afresh.
public struct StandInPatch: Encodable, Sendable {
  public var clientId: String?
  public var version: String?
  public var companies: [String: StandInConfig.Company]?
  public var htmlCompanies: [String]?
  public var credentials: [StandInConfig.Credential]?
  public var members: [String]?
  public var tokenLifetimeSeconds: Int?
  public var users: [StandInConfig.User]?
  public var tickets: Int?
  public var failures: [String: [StandInConfig.FailureStep]]?
  public var redirects: [String: StandInConfig.Redirect]?

  public init(
    clientId: String? = nil, version: String? = nil,
    companies: [String: StandInConfig.Company]? = nil, htmlCompanies: [String]? = nil,
    credentials: [StandInConfig.Credential]? = nil, members: [String]? = nil,
    tokenLifetimeSeconds: Int? = nil, users: [StandInConfig.User]? = nil, tickets: Int? = nil,
    failures: [String: [StandInConfig.FailureStep]]? = nil,
    redirects: [String: StandInConfig.Redirect]? = nil
  ) {
    self.clientId = clientId
    self.version = version
    self.companies = companies
    self.htmlCompanies = htmlCompanies
    self.credentials = credentials
    self.members = members
    self.tokenLifetimeSeconds = tokenLifetimeSeconds
    self.users = users
    self.tickets = tickets
    self.failures = failures
    self.redirects = redirects
  }
}

/// One request as the stand-in received it.
public struct RecordedRequest: Decodable, Sendable {
  public var method: String
  public var path: String
  /// The raw query string, without `?`; empty when there was none.
  public var query: String
  /// Names and values in the order and case they arrived.
  public var headers: [(String, String)]
  public var body: String

  /// The first header named `name`, compared case-insensitively.
  public func header(_ name: String) -> String? {
    let wanted = name.lowercased()
    return headers.first { $0.0.lowercased() == wanted }?.1
  }

  private enum CodingKeys: String, CodingKey {
    case method, path, query, headers, body
  }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    method = try container.decode(String.self, forKey: .method)
    path = try container.decode(String.self, forKey: .path)
    query = try container.decode(String.self, forKey: .query)
    headers = try container.decode([[String]].self, forKey: .headers).map { pair in
      guard pair.count == 2 else {
        throw DecodingError.dataCorruptedError(
          forKey: .headers, in: container, debugDescription: "header is not a [name, value] pair")
      }
      return (pair[0], pair[1])
    }
    body = try container.decode(String.self, forKey: .body)
  }
}

/// Why the stand-in could not be started.
public struct StandInError: Error, CustomStringConvertible {
  public var description: String
}

/// The stand-in Manage server (`Tests/StandIn/manage_standin.py`) running as a
/// child process over TLS on 127.0.0.1, with its own throwaway CA.
///
/// While it runs, `reconfigure` and `expireTokens` change it through its
/// control channel: one JSON command a line on its stdin, each acknowledged
/// by one JSON line on its stdout.
///
/// It stops when `stop()` is called or the object goes away, and on its own
/// when this process dies (its stdin closes).
public final class StandInServer: @unchecked Sendable {
  public let port: Int
  /// The PEM file of the CA that signed the server's certificate.
  public let caFile: String
  /// Holds the certificates, the config and the server's log (`server.log`).
  public let stateDirectory: URL
  private let requestLog: URL
  private let process: Process
  private let input: Pipe
  private let output: LineReader
  private let lock = NSLock()
  private var stopped = false
  private var commandsSent = 0

  /// `127.0.0.1:PORT`, as a Host header or a Manage server string.
  public var host: String { "127.0.0.1:\(port)" }

  /// Starts a server; returns once it listens.
  /// - Throws: `StandInError` when it does not report its port within 20 s.
  public init(config: StandInConfig = StandInConfig()) throws {
    let directory = try makeTemporaryDirectory(prefix: "cwm-standin")
    stateDirectory = directory
    let configFile = directory.appendingPathComponent("config.json")
    try JSONEncoder().encode(config).write(to: configFile)
    let logFile = directory.appendingPathComponent("server.log")
    try Data().write(to: logFile)

    let stdout = Pipe()
    input = Pipe()
    output = LineReader(stdout.fileHandleForReading)
    process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", Self.scriptPath, "--state-dir", directory.path, "--config", configFile.path,
    ]
    process.standardInput = input
    process.standardOutput = stdout
    process.standardError = try FileHandle(forWritingTo: logFile)
    do {
      try process.run()
      output.start()
      let line = try output.next(timeout: 20, waitingFor: "its port")
      let ready = try JSONDecoder().decode(Ready.self, from: Data(line.utf8))
      port = ready.port
      caFile = ready.ca
      requestLog = URL(fileURLWithPath: ready.requests)
    } catch {
      Self.shutDown(process, input)
      let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
      try? FileManager.default.removeItem(at: directory)
      throw StandInError(description: "stand-in server did not start: \(error)\n\(log)")
    }
  }

  deinit {
    stop()
    try? FileManager.default.removeItem(at: stateDirectory)
  }

  /// `https://127.0.0.1:PORT` followed by `path`, which starts with `/`.
  public func url(_ path: String) -> String { "https://\(host)\(path)" }

  /// The API base for a codebase such as `v2025_1/`:
  /// `https://127.0.0.1:PORT/v2025_1/apis/3.0`.
  public func baseURL(codebase: String) -> String {
    let trimmed = codebase.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    return url("/\(trimmed)/apis/3.0")
  }

  /// Every request received since start or the last `clearRequests()`, oldest first.
  public func requests() throws -> [RecordedRequest] {
    let text = try String(contentsOf: requestLog, encoding: .utf8)
    let decoder = JSONDecoder()
    return try text.split(separator: "\n").map { line in
      try decoder.decode(RecordedRequest.self, from: Data(line.utf8))
    }
  }

  /// The recorded requests whose path (without the query) is `path`.
  public func requests(matching path: String) throws -> [RecordedRequest] {
    try requests().filter { $0.path == path }
  }

  /// Forgets the requests recorded so far.
  public func clearRequests() throws {
    try Data().write(to: requestLog)
  }

  /// Changes the running server's config; returns once the server has taken
  /// the change, so the next request sees it.
  /// - Throws: `StandInError` when the server refuses the patch (an unknown
  ///   key, a value of the wrong type) or does not answer within 10 s.
  public func reconfigure(_ patch: some Encodable) throws {
    try send(op: "config", patch: JSONEncoder().encode(patch))
  }

  /// `reconfigure` with the patch as JSON values, for changes a typed patch
  /// cannot say, such as one field of a company
  /// (`["companies": ["acme": ["codebase": "v2025_2/"]]]`) or a top-level
  /// `NSNull()`, which restores that key's default.
  public func reconfigure(json patch: [String: Any]) throws {
    guard JSONSerialization.isValidJSONObject(patch) else {
      throw StandInError(description: "the patch is not made of JSON values")
    }
    try send(op: "config", patch: JSONSerialization.data(withJSONObject: patch))
  }

  /// Makes every impersonation token issued so far expired.
  public func expireTokens() throws {
    try send(op: "expire-tokens", patch: nil)
  }

  /// Stops the server and waits for it to exit. Safe to call more than once.
  public func stop() {
    lock.lock()
    defer { lock.unlock() }
    guard !stopped else { return }
    stopped = true
    Self.shutDown(process, input)
  }

  /// Writes one command line and waits for the reply that carries its id.
  private func send(op: String, patch: Data?) throws {
    lock.lock()
    defer { lock.unlock() }
    // Writing to a server that has gone would raise SIGPIPE.
    guard !stopped, process.isRunning else {
      throw StandInError(description: "the stand-in server is not running")
    }
    commandsSent += 1
    let id = commandsSent
    var line = Data(#"{"id":\#(id),"op":"\#(op)""#.utf8)
    if let patch {
      line += Data(#","patch":"#.utf8) + patch
    }
    line += Data("}\n".utf8)
    try input.fileHandleForWriting.write(contentsOf: line)
    let deadline = Date().addingTimeInterval(10)
    while true {
      let text = try output.next(
        timeout: deadline.timeIntervalSinceNow, waitingFor: "an answer to \(op)")
      guard let reply = try? JSONDecoder().decode(Reply.self, from: Data(text.utf8)),
        reply.id == id
      else { continue }
      guard reply.ok else {
        throw StandInError(description: "the stand-in refused \(op): \(reply.error ?? "")")
      }
      return
    }
  }

  private struct Ready: Decodable {
    var port: Int
    var ca: String
    var requests: String
  }

  private struct Reply: Decodable {
    var id: Int?
    var ok: Bool
    var error: String?
  }

  private static var scriptPath: String {
    URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent()  // Tests/TestSupport
      .deletingLastPathComponent()  // Tests
      .appendingPathComponent("StandIn/manage_standin.py").path
  }

  /// Closes the server's stdin and sends SIGTERM to its PID (never by name),
  /// then waits for it.
  private static func shutDown(_ process: Process, _ input: Pipe) {
    try? input.fileHandleForWriting.close()
    if process.isRunning { process.terminate() }
    if process.processIdentifier != 0 { process.waitUntilExit() }
  }
}

/// The lines a child process writes, read on a thread of their own so that
/// waiting for one can time out.
private final class LineReader: @unchecked Sendable {
  private let handle: FileHandle
  private let condition = NSCondition()
  private var lines: [String] = []
  private var pending = Data()
  private var ended = false

  init(_ handle: FileHandle) {
    self.handle = handle
  }

  /// Starts reading; the thread ends when the writer closes its end.
  func start() {
    Thread.detachNewThread { [self] in
      while true {
        let chunk = handle.availableData
        condition.lock()
        if chunk.isEmpty {
          ended = true
        } else {
          pending.append(chunk)
          while let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: pending[pending.startIndex..<end], as: UTF8.self))
            pending.removeSubrange(pending.startIndex...end)
          }
        }
        condition.broadcast()
        condition.unlock()
        if chunk.isEmpty { return }
      }
    }
  }

  /// The next whole line, waiting at most `timeout` seconds for it.
  func next(timeout: TimeInterval, waitingFor what: String) throws -> String {
    let deadline = Date().addingTimeInterval(max(timeout, 0))
    condition.lock()
    defer { condition.unlock() }
    while lines.isEmpty {
      if ended {
        throw StandInError(description: "the server exited before sending \(what)")
      }
      guard condition.wait(until: deadline) || !lines.isEmpty else {
        throw StandInError(description: "no \(what) within \(Int(timeout.rounded())) s")
      }
    }
    return lines.removeFirst()
  }
}
