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

    public init(company: String, publicKey: String, privateKey: String, forbidden: Bool = false) {
      self.company = company
      self.publicKey = publicKey
      self.privateKey = privateKey
      self.forbidden = forbidden
    }
  }

  public var clientId: String
  /// `version` in system/info, such as `v2025.1.99999`.
  public var version: String
  public var companies: [String: Company]
  /// Companies whose company info is an HTML page with status 200.
  public var htmlCompanies: [String]
  public var credentials: [Credential]

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
    ]
  ) {
    self.clientId = clientId
    self.version = version
    self.companies = companies
    self.htmlCompanies = htmlCompanies
    self.credentials = credentials
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
  private let lock = NSLock()
  private var stopped = false

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

    let output = Pipe()
    input = Pipe()
    process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", Self.scriptPath, "--state-dir", directory.path, "--config", configFile.path,
    ]
    process.standardInput = input
    process.standardOutput = output
    process.standardError = try FileHandle(forWritingTo: logFile)
    do {
      try process.run()
      let line = try Self.readFirstLine(output.fileHandleForReading, timeout: 20)
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

  /// Forgets the requests recorded so far.
  public func clearRequests() throws {
    try Data().write(to: requestLog)
  }

  /// Stops the server and waits for it to exit. Safe to call more than once.
  public func stop() {
    lock.lock()
    defer { lock.unlock() }
    guard !stopped else { return }
    stopped = true
    Self.shutDown(process, input)
  }

  private struct Ready: Decodable {
    var port: Int
    var ca: String
    var requests: String
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

  /// Reads up to the first newline, giving up after `timeout` seconds.
  private static func readFirstLine(_ handle: FileHandle, timeout: Double) throws -> String {
    final class Box: @unchecked Sendable {
      let done = DispatchSemaphore(value: 0)
      var line: String?
    }
    let box = Box()
    Thread.detachNewThread {
      var data = Data()
      while !data.contains(UInt8(ascii: "\n")) {
        let chunk = handle.availableData
        if chunk.isEmpty { break }
        data.append(chunk)
      }
      if let end = data.firstIndex(of: UInt8(ascii: "\n")) {
        box.line = String(decoding: data[..<end], as: UTF8.self)
      }
      box.done.signal()
    }
    guard box.done.wait(timeout: .now() + timeout) == .success else {
      throw StandInError(description: "no port reported within \(Int(timeout)) s")
    }
    guard let line = box.line else {
      throw StandInError(description: "server exited before reporting its port")
    }
    return line
  }
}
