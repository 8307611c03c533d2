import Foundation
import Synchronization
import TestSupport
import Testing

@testable import CWMProfile

@Suite struct CurlTransportTests {
  // MARK: Round trips

  @Test func getEchoesHeadersAndQuery() throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))
    let request = HTTPRequest(
      url: server.url("/__test/echo?conditions=name%3D%22A%22&page=2"),
      headers: [
        HTTPHeader("Authorization", "Basic YWNtZStQVUI6UFJJVg=="),
        HTTPHeader("clientId", "11111111-2222-3333-4444-555555555555"),
        HTTPHeader("X-Empty", ""),
      ])

    let response = try transport.send(request)

    #expect(response.status == 200)
    #expect(response.url == request.url)
    let echo = try Echo(response)
    #expect(echo.method == "GET")
    #expect(echo.path == "/__test/echo")
    #expect(echo.query == "conditions=name%3D%22A%22&page=2")
    #expect(echo.header("Authorization") == "Basic YWNtZStQVUI6UFJJVg==")
    #expect(echo.header("clientId") == "11111111-2222-3333-4444-555555555555")
    #expect(echo.header("X-Empty") == "")
    #expect(echo.header("Expect") == nil)
    #expect(echo.header("User-Agent")?.hasPrefix("cwm-profile/0.1 libcurl/") == true)
  }

  @Test func postSendsBodyAndContentTypeIntact() throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))
    let body = Array(#"{"name":"Zoë & Søn","note":"a+b=c"}"#.utf8)
    let request = HTTPRequest(
      method: "POST", url: server.url("/__test/echo"),
      headers: [HTTPHeader("Content-Type", "application/json")], body: body)

    let echo = try Echo(transport.send(request))

    #expect(echo.method == "POST")
    #expect(Array(echo.body.utf8) == body)
    #expect(echo.header("Content-Type") == "application/json")
    #expect(echo.header("Content-Length") == "\(body.count)")
    #expect(echo.header("Expect") == nil)
  }

  @Test func postWithoutBodySendsNothingInvented() throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))

    let echo = try Echo(
      transport.send(HTTPRequest(method: "POST", url: server.url("/__test/echo"))))

    #expect(echo.method == "POST")
    #expect(echo.body == "")
    #expect(echo.header("Content-Length") == "0")
    #expect(echo.header("Content-Type") == nil)
  }

  @Test(arguments: ["PUT", "PATCH", "DELETE"])
  func otherMethodsArriveAsThemselves(method: String) throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))
    let body: [UInt8]? = method == "DELETE" ? nil : Array("[{\"op\":\"replace\"}]".utf8)

    let echo = try Echo(
      transport.send(HTTPRequest(method: method, url: server.url("/__test/echo"), body: body)))

    #expect(echo.method == method)
    #expect(echo.body == body.map { String(decoding: $0, as: UTF8.self) } ?? "")
  }

  @Test func errorStatusesComeBackAsResponses() throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))

    let unauthenticated = try transport.send(
      HTTPRequest(
        url: server.baseURL(codebase: "v2025_1/") + "/system/info",
        headers: [HTTPHeader("clientId", "11111111-2222-3333-4444-555555555555")]))
    let notFound = try transport.send(HTTPRequest(url: server.url("/__test/status/404")))
    let failed = try transport.send(HTTPRequest(url: server.url("/__test/status/500")))

    #expect(unauthenticated.status == 401)
    #expect(unauthenticated.body.isEmpty)
    #expect(unauthenticated.header("content-length") == "0")
    #expect(notFound.status == 404)
    #expect(notFound.header("Content-Type")?.hasPrefix("application/json") == true)
    #expect(String(decoding: notFound.body, as: UTF8.self).contains(#""message": "status 404""#))
    #expect(failed.status == 500)
    #expect(String(decoding: failed.body, as: UTF8.self).contains(#""message": "status 500""#))
  }

  // MARK: TLS

  @Test func failsTLSWithoutTheStandInCA() throws {
    let server = try StandInServer()
    let transport = CurlTransport()

    let error = sendError(transport, HTTPRequest(url: server.url("/__test/echo")))

    guard case .tlsFailure(let host, let detail) = error else {
      Issue.record("expected a TLS failure, got \(String(describing: error))")
      return
    }
    #expect(host == server.host)
    #expect(!detail.isEmpty)
    #expect(try server.requests().isEmpty)
  }

  @Test func aCAFileOfAnotherCAIsNotEnough() throws {
    let server = try StandInServer()
    let other = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: other.caFile))

    let error = sendError(transport, HTTPRequest(url: server.url("/__test/echo")))

    guard case .tlsFailure = error else {
      Issue.record("expected a TLS failure, got \(String(describing: error))")
      return
    }
    #expect(try server.requests().isEmpty)
    #expect(try transport.send(HTTPRequest(url: other.url("/__test/html"))).status == 200)
  }

  @Test func unreadableCAFileFailsBeforeConnecting() throws {
    let server = try StandInServer()
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let missing = directory.appendingPathComponent("missing.pem").path

    for path in [missing, directory.path] {
      let transport = CurlTransport(options: HTTPOptions(caFile: path))
      let error = sendError(transport, HTTPRequest(url: server.url("/__test/echo")))
      #expect(error == .caFileUnreadable(path: path))
    }
    #expect(try server.requests().isEmpty)
  }

  // MARK: Connection failures and timeouts

  @Test func refusedConnectionIsReportedAsSuch() throws {
    let port = try LocalSocket.listening().closedPort()
    let transport = CurlTransport()

    let error = sendError(transport, HTTPRequest(url: "https://127.0.0.1:\(port)/"))

    #expect(error == .connectionRefused(host: "127.0.0.1:\(port)"))
  }

  @Test func totalTimeoutEndsASlowAnswer() throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile, totalTimeout: 1))
    let started = ContinuousClock.now

    let error = sendError(transport, HTTPRequest(url: server.url("/__test/slow?seconds=8")))

    #expect(error == .timedOut(host: server.host, seconds: 1))
    #expect(started.duration(to: .now) < .seconds(6))
  }

  @Test func connectTimeoutCoversAStalledHandshake() throws {
    // A socket that listens but never accepts: TCP connects, TLS never answers.
    let socket = try LocalSocket.listening()
    defer { socket.close() }
    let options = HTTPOptions(connectTimeout: 1, totalTimeout: 30)

    let error = sendError(
      CurlTransport(options: options), HTTPRequest(url: "https://127.0.0.1:\(socket.port)/"))

    #expect(error == .timedOut(host: "127.0.0.1:\(socket.port)", seconds: 1))
  }

  @Test(.enabled(if: CurlTransportTests.resolversAreLocal, "DNS queries would leave this machine"))
  func unknownHostIsReported() {
    let error = sendError(CurlTransport(), HTTPRequest(url: "https://nonexistent.invalid/"))

    #expect(error == .couldNotResolve(host: "nonexistent.invalid"))
  }

  @Test func curlResultCodesMapToErrors() {
    let classify = { (code: UInt32) in
      CurlTransport.classify(code: code, detail: "d", host: "h:1", timeout: 2)
    }

    #expect(classify(6) == .couldNotResolve(host: "h:1"))
    #expect(classify(7) == .connectionRefused(host: "h:1"))
    #expect(classify(28) == .timedOut(host: "h:1", seconds: 2))
    for code: UInt32 in [35, 51, 53, 54, 58, 59, 60, 77, 80, 83, 90, 91] {
      #expect(classify(code) == .tlsFailure(host: "h:1", detail: "d"))
    }
    for code: UInt32 in [52, 55, 56] {
      #expect(classify(code) == .connectionLost(host: "h:1", detail: "d"))
    }
    #expect(classify(3) == .transport(detail: "d"))
  }

  // MARK: Redirects

  /// Location forms that all lead to `/__test/echo?step=2` on the same origin;
  /// `PORT` is replaced with the stand-in's port.
  static let sameOriginLocations = [
    "/__test/echo?step=2",
    "echo?step=2",
    "../__test/./echo?step=2",
    "//127.0.0.1:PORT/__test/echo?step=2",
    "https://127.0.0.1:PORT/__test/echo?step=2",
    "HTTPS://127.0.0.1:PORT/__test/echo?step=2#fragment",
  ]

  @Test(arguments: sameOriginLocations)
  func sameOriginRedirectKeepsAuthorization(location: String) throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))
    let target = location.replacingOccurrences(of: "PORT", with: "\(server.port)")
    let request = HTTPRequest(
      url: server.url("/__test/redirect?to=\(encoded(target))"),
      headers: [
        HTTPHeader("Authorization", "Basic c2VjcmV0"), HTTPHeader("Cookie", "memberHash=abc"),
      ])

    let response = try transport.send(request)

    #expect(response.status == 200)
    #expect(response.url == server.url("/__test/echo?step=2"))
    #expect(response.header("Location") == nil)
    let echo = try Echo(response)
    #expect(echo.query == "step=2")
    #expect(echo.header("Authorization") == "Basic c2VjcmV0")
    #expect(echo.header("Cookie") == "memberHash=abc")
    #expect(try server.requests().map(\.path) == ["/__test/redirect", "/__test/echo"])
  }

  @Test(arguments: [301, 302, 303, 307, 308])
  func redirectedPostKeepsOrDropsItsBody(status: Int) throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))
    let location = encoded(server.url("/__test/echo"))
    let request = HTTPRequest(
      method: "POST", url: server.url("/__test/redirect?status=\(status)&to=\(location)"),
      headers: [HTTPHeader("Content-Type", "application/json")], body: Array("{}".utf8))

    let echo = try Echo(transport.send(request))

    let keepsBody = status == 307 || status == 308
    #expect(echo.method == (keepsBody ? "POST" : "GET"))
    #expect(echo.body == (keepsBody ? "{}" : ""))
    #expect((echo.header("Content-Type") != nil) == keepsBody)
  }

  @Test func redirectToAnotherHostNameIsRefused() throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))
    // Same address and certificate, but a different host string: another origin.
    let target = "https://localhost:\(server.port)/__test/echo"
    let request = HTTPRequest(
      url: server.url("/__test/redirect?to=\(encoded(target + "?k=v"))"),
      headers: [HTTPHeader("Authorization", "Basic c2VjcmV0")])

    let error = sendError(transport, request)

    #expect(error == .redirectRefused(from: server.url("/__test/redirect"), to: target))
    #expect(try server.requests().map(\.path) == ["/__test/redirect"])
  }

  @Test func redirectToAnotherPortIsRefused() throws {
    let server = try StandInServer()
    let other = try StandInServer()
    // Trust both CAs, so only the redirect rule can keep the request away.
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let bothCAs = directory.appendingPathComponent("both.pem")
    let pems = try [server.caFile, other.caFile].map {
      try Data(contentsOf: URL(fileURLWithPath: $0))
    }
    try pems.reduce(Data(), +).write(to: bothCAs)
    let transport = CurlTransport(options: HTTPOptions(caFile: bothCAs.path))
    #expect(try transport.send(HTTPRequest(url: other.url("/__test/html"))).status == 200)
    try other.clearRequests()
    let target = other.url("/__test/echo")

    let error = sendError(
      transport, HTTPRequest(url: server.url("/__test/redirect?to=\(encoded(target))")))

    #expect(error == .redirectRefused(from: server.url("/__test/redirect"), to: target))
    #expect(try other.requests().isEmpty)
  }

  @Test func redirectToPlainHTTPIsRefused() throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))
    let target = "http://127.0.0.1:\(server.port)/__test/echo"

    let error = sendError(
      transport, HTTPRequest(url: server.url("/__test/redirect?to=\(encoded(target))")))

    #expect(error == .redirectRefused(from: server.url("/__test/redirect"), to: target))
    #expect(try server.requests().count == 1)
  }

  @Test func redirectLimitIsEnforced() throws {
    let server = try StandInServer()
    // Three redirects in a row, then the echo.
    var path = "/__test/echo"
    for _ in 0..<3 { path = "/__test/redirect?to=\(encoded(path))" }
    let request = HTTPRequest(url: server.url(path))

    let error = sendError(
      CurlTransport(options: HTTPOptions(caFile: server.caFile, maxRedirects: 2)), request)
    let requestsWhenRefused = try server.requests().map(\.path)
    try server.clearRequests()
    let response = try CurlTransport(options: HTTPOptions(caFile: server.caFile, maxRedirects: 3))
      .send(request)

    #expect(error == .tooManyRedirects(url: server.url("/__test/redirect")))
    #expect(requestsWhenRefused == Array(repeating: "/__test/redirect", count: 3))
    #expect(response.status == 200)
    #expect(try server.requests().last?.path == "/__test/echo")
  }

  // MARK: Refused before sending

  @Test func nonHTTPSURLsAreRejectedUpFront() throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))
    let rejected = [
      ("http://127.0.0.1:\(server.port)/__test/echo?key=s3cret", "s3cret"),
      ("https://user:pa55@127.0.0.1:\(server.port)/__test/echo", "pa55"),
      ("127.0.0.1:\(server.port)/__test/echo", nil),
      ("https:///__test/echo", nil),
      ("ftp://127.0.0.1:\(server.port)/", nil),
    ]

    for (url, secret) in rejected {
      let error = sendError(transport, HTTPRequest(url: url))
      guard case .invalidURL(let shown) = error else {
        Issue.record("\(url): expected invalidURL, got \(String(describing: error))")
        continue
      }
      if let secret { #expect(!shown.contains(secret)) }
    }
    #expect(try server.requests().isEmpty)
  }

  @Test func headerWithLineBreakIsRefused() throws {
    let server = try StandInServer()
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile))
    let request = HTTPRequest(
      url: server.url("/__test/echo"), headers: [HTTPHeader("X-Note", "a\r\nX-Injected: 1")])

    let error = sendError(transport, request)

    guard case .transport = error else {
      Issue.record("expected a transport error, got \(String(describing: error))")
      return
    }
    #expect(try server.requests().isEmpty)
  }

  // MARK: Logging

  @Test func logsOneDebugLineWithoutSecrets() throws {
    let server = try StandInServer()
    let lines = Mutex<[(LogLevel, String)]>([])
    let logger = Logger { level, message in lines.withLock { $0.append((level, message)) } }
    let transport = CurlTransport(options: HTTPOptions(caFile: server.caFile), logger: logger)
    let request = HTTPRequest(
      method: "POST", url: server.url("/__test/echo?token=querysecret"),
      headers: [HTTPHeader("Authorization", "Basic aGVhZGVyc2VjcmV0")],
      body: Array("bodysecret".utf8))

    _ = try transport.send(request)

    let logged = lines.withLock { $0 }
    #expect(logged.count == 1)
    #expect(logged.allSatisfy { $0.0 == .debug })
    let text = logged.map(\.1).joined(separator: "\n")
    #expect(text.hasPrefix("POST \(server.url("/__test/echo")) -> 200 ("))
    for secret in ["querysecret", "aGVhZGVyc2VjcmV0", "bodysecret"] {
      #expect(!text.contains(secret))
    }
  }
}

// MARK: - Helpers

extension CurlTransportTests {
  /// True when every configured DNS server is on this machine, so resolving
  /// a `.invalid` name sends nothing over the network.
  static var resolversAreLocal: Bool {
    guard let conf = try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8) else {
      return false
    }
    let servers = conf.split(separator: "\n").compactMap { line -> Substring? in
      let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
      return fields.count >= 2 && fields[0] == "nameserver" ? fields[1] : nil
    }
    return !servers.isEmpty && servers.allSatisfy { $0.hasPrefix("127.") || $0 == "::1" }
  }
}

/// The JSON the stand-in's `/__test/echo` route answers with.
private struct Echo: Decodable {
  var method: String
  var path: String
  var query: String
  var headers: [[String]]
  var body: String

  init(_ response: HTTPResponse) throws {
    #expect(response.status == 200)
    self = try JSONDecoder().decode(Echo.self, from: Data(response.body))
  }

  func header(_ name: String) -> String? {
    headers.first { $0.first?.lowercased() == name.lowercased() }?.last
  }
}

/// The error `send` throws, or nil when it returns.
private func sendError(_ transport: CurlTransport, _ request: HTTPRequest) -> HTTPError? {
  do {
    _ = try transport.send(request)
    return nil
  } catch {
    return error
  }
}

/// Percent-encodes everything but letters and digits, for a query value.
private func encoded(_ text: String) -> String {
  text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
}

/// A TCP socket on 127.0.0.1 with a kernel-chosen port that never accepts.
private final class LocalSocket {
  let descriptor: Int32
  let port: Int

  private init(descriptor: Int32, port: Int) {
    self.descriptor = descriptor
    self.port = port
  }

  static func listening() throws -> LocalSocket {
    // Close-on-exec, or a stand-in started meanwhile would keep it listening.
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
        bind(fd, raw, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, raw, &length) == 0
      }
    }
    guard ok else {
      Glibc.close(fd)
      throw POSIXError(.EADDRNOTAVAIL)
    }
    return LocalSocket(descriptor: fd, port: Int(UInt16(bigEndian: address.sin_port)))
  }

  /// Closes the socket and returns its port, where nothing listens now.
  func closedPort() -> Int {
    close()
    return port
  }

  func close() { Glibc.close(descriptor) }
}
