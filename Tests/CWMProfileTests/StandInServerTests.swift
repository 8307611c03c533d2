import Foundation
import TestSupport
import Testing

/// The stand-in server checked against a client that owes nothing to this
/// project: the curl command, always to 127.0.0.1 with the stand-in's CA.
@Suite struct StandInServerTests {
  // MARK: Impersonation tokens

  @Test func impersonationTokenIsIssuedUsedAndExpires() throws {
    let server = try StandInServer()
    let issued = try requestToken(server)
    #expect(issued.status == 200)
    let token = try issued.object()
    let publicKey = try #require(token["publicKey"] as? String)
    let privateKey = try #require(token["privateKey"] as? String)
    #expect(publicKey.wholeMatch(of: /[A-Za-z0-9]{16}/) != nil)
    #expect(privateKey.wholeMatch(of: /[A-Za-z0-9]{16}/) != nil)
    #expect(publicKey != privateKey)
    let expiration = try #require(token["expiration"] as? String)
    #expect(expiration.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/) != nil)
    let expires = try #require(ISO8601DateFormatter().date(from: expiration))
    #expect(abs(expires.timeIntervalSinceNow - 3600) < 30)

    let asToken = ["-u", "acme+\(publicKey):\(privateKey)", "-H", "clientId: \(clientId)"]
    let echo = try curl(server, server.baseURL(codebase: "v2025_1/") + "/system/echo", asToken)
    #expect(echo.status == 200)
    let auth = try #require(echo.object()["auth"] as? [String: Any])
    #expect(auth["kind"] as? String == "token")
    #expect(auth["member"] as? String == "jdoe")

    // Only the API key itself may ask for tokens.
    let again = try requestToken(server, auth: asToken)
    #expect(again.status == 403)
    #expect(try again.object()["code"] as? String == "Security")

    try server.expireTokens()
    let expired = try curl(server, server.baseURL(codebase: "v2025_1/") + "/system/info", asToken)
    #expect(expired.status == 401)
    #expect(try expired.json() == unauthenticated)
    let key = try curl(server, server.baseURL(codebase: "v2025_1/") + "/system/info", apiKey)
    #expect(key.status == 200)
    #expect(try requestToken(server).status == 200)
  }

  @Test func tokenLifetimeComesFromTheConfig() throws {
    let server = try StandInServer(config: StandInConfig(tokenLifetimeSeconds: 120))
    let expiration = try #require(requestToken(server).object()["expiration"] as? String)
    let expires = try #require(ISO8601DateFormatter().date(from: expiration))
    #expect(abs(expires.timeIntervalSinceNow - 120) < 30)

    try server.reconfigure(StandInPatch(tokenLifetimeSeconds: 0))
    let token = try requestToken(server).object()
    let pair = "\(token["publicKey"] as? String ?? ""):\(token["privateKey"] as? String ?? "")"
    let used = try curl(
      server, server.baseURL(codebase: "v2025_1/") + "/system/info",
      ["-u", "acme+\(pair)", "-H", "clientId: \(clientId)"])
    #expect(used.status == 401)
  }

  @Test func tokenRequestsAreRefusedAsManageRefusesThem() throws {
    let config = StandInConfig(credentials: [
      .init(company: "acme", publicKey: "PUB", privateKey: "PRIV"),
      .init(company: "acme", publicKey: "PLAIN", privateKey: "KEY", canImpersonate: false),
    ])
    let server = try StandInServer(config: config)

    let noType = try requestToken(server, userType: nil)
    #expect(noType.status == 400)
    let invalid = try noType.object()
    #expect(invalid["code"] as? String == "InvalidObject")
    #expect(invalid["message"] as? String == "x-cw-usertype header is required")
    let errors = try #require(invalid["errors"] as? [[String: Any]])
    #expect(errors.count == 1)
    #expect(Set(errors[0].keys) == ["code", "message", "resource", "field"])

    let unknown = try requestToken(server, member: "nobody")
    #expect(unknown.status == 404)
    #expect(
      try unknown.json() == #"{"code":"NotFound","message":"Member 'nobody' was not found"}"#)

    let plain = try requestToken(
      server, auth: ["-u", "acme+PLAIN:KEY", "-H", "clientId: \(clientId)"])
    #expect(plain.status == 403)
    #expect(
      try plain.json()
        == #"{"code":"Security","message":"This API member may not impersonate other members."}"#)

    #expect(try requestToken(server, auth: ["-u", "acme+PUB:PRIV"]).status == 401)
    let named = ["-H", "Content-Type: application/json", "--data", #"{"memberIdentifier":"jdoe"}"#]
    #expect(try requestToken(server, member: "JDoe", options: named).status == 200)
    let other = ["-H", "Content-Type: application/json", "--data", #"{"memberIdentifier":"x"}"#]
    #expect(try requestToken(server, options: other).status == 400)
  }

  // MARK: Cookie login

  /// Every character a form encoding can get wrong, and one outside ASCII.
  private static let password = "p&ss=w+rd%41 é"

  private static let loginConfig = StandInConfig(users: [
    .init(company: "acme", username: "jdoe", password: password),
    .init(company: "acme", username: "secure", password: password, mfa: true),
  ])

  @Test func loginDecodesTheFormAndIssuesAHash() throws {
    let server = try StandInServer(config: Self.loginConfig)

    let encodedByCurl = try login(server, "jdoe", Self.password)
    #expect(encodedByCurl.status == 200)
    let hash = try #require(encodedByCurl.object()["Hash"] as? String)
    #expect(try encodedByCurl.object()["Success"] as? Bool == true)
    #expect(hash.wholeMatch(of: /[0-9a-f]{32}/) != nil)

    // Spaces as `+`, as browsers send them, with the shared-computer box.
    let byHand = "CompanyName=acme&UserName=jdoe&Password=p%26ss%3Dw%2Brd%2541+%C3%A9"
    let browser = try curl(
      server, server.url("/v2025_1/login/login.aspx?response=json"),
      ["--data", byHand + "&ChkSharedComputer=false"])
    #expect(try browser.object()["Success"] as? Bool == true)
    #expect(try browser.object()["Hash"] as? String != hash)

    // Sent without encoding, the password arrives cut at its `&`.
    let raw = "CompanyName=acme&UserName=jdoe&Password=\(Self.password)"
    let unencoded = try curl(
      server, server.url("/v2025_1/login/login.aspx?response=json"), ["--data", raw])
    #expect(try unencoded.json() == #"{"Success":false}"#)
  }

  @Test func loginFailsForAWrongPasswordAndForMFAMembers() throws {
    let server = try StandInServer(config: Self.loginConfig)

    let wrong = try login(server, "jdoe", Self.password + "x")
    #expect(wrong.status == 200)
    #expect(try wrong.json() == #"{"Success":false}"#)
    let mfa = try login(server, "secure", Self.password)
    #expect(mfa.status == 200)
    #expect(try mfa.json() == #"{"Success":false}"#)
    let nobody = try login(server, "nobody", Self.password)
    #expect(try nobody.json() == #"{"Success":false}"#)

    // Without ?response=json the login page is a web page.
    let page = try curl(server, server.url("/v2025_1/login/login.aspx"), ["--data", "x=1"])
    #expect(page.header("Content-Type")?.hasPrefix("text/html") == true)
  }

  @Test func cookiesOfALoginAuthenticateAPICalls() throws {
    var config = Self.loginConfig
    config.users.append(.init(company: "acme", username: "asmith", password: "other"))
    let server = try StandInServer(config: config)
    let hash = try #require(login(server, "jdoe", Self.password).object()["Hash"] as? String)
    let echo = server.baseURL(codebase: "v2025_1/") + "/system/echo"
    let cookies = [
      "companyName=acme", "memberHash=\(hash)", "MemberID=jdoe", "MemberContext=web",
    ]
    func call(_ jar: [String], _ extra: [String] = []) throws -> CurlResult {
      try curl(
        server, echo,
        ["-H", "clientId: \(clientId)", "--cookie", jar.joined(separator: "; ")]
          + extra)
    }

    let signedIn = try call(cookies)
    #expect(signedIn.status == 200)
    let auth = try #require(signedIn.object()["auth"] as? [String: Any])
    #expect(auth["kind"] as? String == "cookie")
    #expect(auth["member"] as? String == "jdoe")

    for missing in cookies.indices {
      var jar = cookies
      jar.remove(at: missing)
      #expect(try call(jar).status == 401, "without \(cookies[missing])")
    }
    /// The cookies with one of them changed.
    func changing(_ cookie: String) -> [String] {
      let name = cookie.prefix { $0 != "=" } + "="
      return cookies.map { $0.hasPrefix(name) ? cookie : $0 }
    }
    #expect(try call(changing("MemberID=asmith")).status == 401)
    #expect(try call(changing("companyName=onprem")).status == 401)
    #expect(try call(changing("MemberContext=api")).status == 401)
    #expect(try call(changing("memberHash=" + String(repeating: "0", count: 32))).status == 401)
    // With Authorization as well, the call is a Basic one.
    #expect(try call(cookies, ["-u", "acme+PUB:WRONG"]).status == 401)
    let basic = try call(cookies, ["-u", "acme+PUB:PRIV"])
    #expect((try basic.object()["auth"] as? [String: Any])?["kind"] as? String == "key")
  }

  // MARK: Paging

  @Test func pageNumbersCoverEveryTicketOnce() throws {
    let server = try StandInServer()
    let tickets = server.baseURL(codebase: "v2025_1/") + "/service/tickets"

    let first = try curl(server, tickets, apiKey)
    let links = parseLinks(first.header("Link"))
    #expect(links["next"] == "\(tickets)?page=2&pageSize=25")
    #expect(links["last"] == "\(tickets)?page=3&pageSize=25")
    #expect(links["prev"] == nil)

    let (ids, pages) = try collect(server, from: tickets, auth: apiKey)
    #expect(ids == Array(1...60))
    #expect(pages.map(\.count) == [25, 25, 10])
    #expect(pages.last?.links["next"] == nil)
    #expect(pages.last?.links["first"] == "\(tickets)?page=1&pageSize=25")
  }

  @Test func pageLinksKeepTheOtherQueryParameters() throws {
    let server = try StandInServer()
    let tickets = server.baseURL(codebase: "v2025_1/") + "/service/tickets"
    let query = "conditions=id%3E10&orderBy=id%20asc&pageSize=20"

    let (ids, pages) = try collect(server, from: "\(tickets)?\(query)", auth: apiKey)

    #expect(ids == Array(11...60))
    #expect(pages.map(\.count) == [20, 20, 10])
    #expect(
      pages[0].links["next"] == "\(tickets)?conditions=id%3E10&orderBy=id%20asc&page=2&pageSize=20")
  }

  @Test func forwardOnlyPagingFollowsPageIds() throws {
    let server = try StandInServer()
    let tickets = server.baseURL(codebase: "v2025_1/") + "/service/tickets"
    let forwardOnly = apiKey + ["-H", "pagination-type: forward-only"]

    let (ids, pages) = try collect(server, from: tickets, auth: forwardOnly)

    #expect(ids == Array(1...60))
    #expect(pages.map(\.count) == [25, 25, 10])
    #expect(pages[0].links["next"] == "\(tickets)?pageId=25&pageSize=25")
    #expect(pages[1].links["next"] == "\(tickets)?pageId=50&pageSize=25")
    #expect(pages[2].rawLink == #"<>; rel="next""#)
    let queries = try server.requests(matching: "/v2025_1/apis/3.0/service/tickets").map(\.query)
    #expect(queries == ["", "pageId=25&pageSize=25", "pageId=50&pageSize=25"])
  }

  @Test func pageSizeIsCheckedAsManageChecksIt() throws {
    let server = try StandInServer()
    let tickets = server.baseURL(codebase: "v2025_1/") + "/service/tickets"

    let tooBig = try curl(server, tickets + "?pageSize=1001", apiKey)
    #expect(tooBig.status == 400)
    #expect(try tooBig.object()["code"] as? String == "InvalidObject")
    let errors = try #require(tooBig.object()["errors"] as? [[String: Any]])
    #expect(errors.first?["field"] as? String == "pageSize")

    let all = try curl(server, tickets + "?pageSize=1000", apiKey)
    #expect(try all.array().count == 60)
    #expect(all.header("Link") == nil)
  }

  // MARK: Tickets and the echo

  @Test func ticketsCanBeReadCreatedAndFiltered() throws {
    let server = try StandInServer(config: StandInConfig(tickets: 5))
    let tickets = server.baseURL(codebase: "v2025_1/") + "/service/tickets"

    let three = try curl(server, tickets + "/3", apiKey)
    #expect(try three.json() == #"{"id":3,"summary":"Ticket 3"}"#)
    let missing = try curl(server, tickets + "/6", apiKey)
    #expect(missing.status == 404)
    #expect(try missing.object()["code"] as? String == "NotFound")

    let body = #"{"summary":"Printer on fire","board":{"id":1}}"#
    let created = try curl(
      server, tickets, apiKey + ["-H", "Content-Type: application/json", "--data", body])
    #expect(created.status == 201)
    let ticket = try created.object()
    #expect(ticket["id"] as? Int == 6)
    #expect(ticket["summary"] as? String == "Printer on fire")
    #expect((ticket["board"] as? [String: Any])?["id"] as? Int == 1)
    #expect(
      try curl(server, tickets + "/6", apiKey).object()["summary"] as? String == "Printer on fire")
    let noSummary = try curl(
      server, tickets, apiKey + ["-H", "Content-Type: application/json", "--data", "{}"])
    #expect(noSummary.status == 400)

    func ids(_ conditions: String) throws -> [Int] {
      let encoded = conditions.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
      return try curl(server, tickets + "?conditions=" + encoded, apiKey).array().compactMap {
        ($0 as? [String: Any])?["id"] as? Int
      }
    }
    #expect(try ids(#"summary="Ticket 3""#) == [3])
    #expect(try ids("id<3") == [1, 2])
    #expect(try ids("id>2 and id<5") == [3, 4])
    #expect(try ids(#"id=1 or summary like "Printer*""#) == [1, 6])
    #expect(try curl(server, tickets + "?conditions=id%3E%3E1", apiKey).status == 400)
    #expect(
      try curl(server, tickets + "/count?conditions=id%3E4", apiKey).object()["count"] as? Int == 2)
  }

  @Test func echoShowsARequestBehindAuthentication() throws {
    let server = try StandInServer()
    let echo = server.baseURL(codebase: "v2025_1/") + "/system/echo?a=1&b=x%20y+z&c=%26"

    let put = try curl(server, echo, apiKey + ["-X", "PUT", "--data", "payload"])

    #expect(put.status == 200)
    let shown = try put.object()
    #expect(shown["method"] as? String == "PUT")
    #expect(shown["path"] as? String == "/v2025_1/apis/3.0/system/echo")
    #expect(shown["query"] as? String == "a=1&b=x%20y+z&c=%26")
    #expect(shown["params"] as? [[String]] == [["a", "1"], ["b", "x y z"], ["c", "&"]])
    #expect(shown["body"] as? String == "payload")
    let headers = try #require(shown["headers"] as? [[String]])
    #expect(headers.contains(["clientId", clientId]))
    #expect(try curl(server, echo, ["-H", "clientId: \(clientId)"]).status == 401)
  }

  // MARK: Failure and redirect injection

  @Test func failureStepsAreUsedInOrderThenTheRouteAnswers() throws {
    let info = "/v2025_1/apis/3.0/system/info"
    let server = try StandInServer(
      config: StandInConfig(failures: [
        info: [.status(500), .tooMany(retryAfter: "1"), .html(status: 502), .status(503)]
      ]))

    let first = try curl(server, server.url(info), apiKey)
    #expect(first.status == 500)
    #expect(try first.json() == #"{"code":"Test","message":"injected 500"}"#)
    // Another path has no steps of its own and takes none of these.
    #expect(
      try curl(server, server.baseURL(codebase: "v2025_1/") + "/system/echo", apiKey).status == 200)
    let limited = try curl(server, server.url(info), apiKey)
    #expect(limited.status == 429)
    #expect(limited.header("Retry-After") == "1")
    let html = try curl(server, server.url(info), apiKey)
    #expect(html.status == 502)
    #expect(html.header("Content-Type")?.hasPrefix("text/html") == true)
    #expect(html.text == StandInConfig.FailureStep.htmlBody)
    #expect(try curl(server, server.url(info), apiKey).status == 503)
    for _ in 0..<2 {
      let normal = try curl(server, server.url(info), apiKey)
      #expect(normal.status == 200)
      #expect(try normal.object()["version"] as? String == "v2025.1.99999")
    }
  }

  @Test func resetStepDropsTheConnection() throws {
    let info = "/v2025_1/apis/3.0/system/info"
    let server = try StandInServer(config: StandInConfig(failures: [info: [.reset]]))

    let reset = try curl(server, server.url(info), apiKey)

    #expect([52, 56].contains(reset.exitCode), "curl said: \(reset.stderr)")
    // A TCP reset, not a quiet close (which curl reports as an unexpected EOF).
    #expect(reset.stderr.contains("Connection reset by peer"), "curl said: \(reset.stderr)")
    #expect(reset.status == 0)
    #expect(try curl(server, server.url(info), apiKey).status == 200)
    #expect(try server.requests(matching: info).count == 2)
  }

  @Test func eachStepIsUsedOnceUnderConcurrentRequests() throws {
    let info = "/v2025_1/apis/3.0/system/info"
    let steps = Array(repeating: StandInConfig.FailureStep.status(503), count: 10)
    let server = try StandInServer(config: StandInConfig(failures: [info: steps]))

    let statuses = try curlInParallel(server, Array(repeating: server.url(info), count: 20), apiKey)

    #expect(statuses.count == 20)
    #expect(statuses.filter { $0 == 503 }.count == 10)
    #expect(statuses.filter { $0 == 200 }.count == 10)
  }

  @Test func redirectIsAnsweredBeforeAuthentication() throws {
    let info = "/v2025_1/apis/3.0/system/info"
    let config = StandInConfig(redirects: [
      info: .init(to: "https://{host}:{port}/__test/echo?moved=1", status: 307)
    ])
    let server = try StandInServer(config: config)

    let bare = try curl(server, server.url(info))
    #expect(bare.status == 307)
    #expect(bare.header("Location") == server.url("/__test/echo?moved=1"))

    let followed = try curl(server, server.url(info), ["--location", "--proto-redir", "=https"])
    #expect(followed.status == 200)
    #expect(try followed.object()["path"] as? String == "/__test/echo")
    #expect(try server.requests().map(\.path) == [info, info, "/__test/echo"])
  }

  // MARK: Changing a running server

  @Test func reconfigureMovesACompanyToAnotherCodebase() throws {
    let server = try StandInServer()
    #expect(try companyInfo(server)["Codebase"] as? String == "v2025_1/")

    try server.reconfigure(json: ["companies": ["acme": ["codebase": "v2025_2/"]]])

    let info = try companyInfo(server)
    #expect(info["Codebase"] as? String == "v2025_2/")
    #expect(info["IsCloud"] as? Bool == true)  // the company's other fields stay
    let old = try curl(server, server.baseURL(codebase: "v2025_1/") + "/system/info", apiKey)
    #expect(old.status == 404)
    #expect(try old.object()["code"] as? String == "NotFound")
    let new = try curl(server, server.baseURL(codebase: "v2025_2/") + "/system/info", apiKey)
    #expect(new.status == 200)
  }

  @Test func reconfigureRefusesWhatTheServerWouldIgnore() throws {
    let server = try StandInServer()

    #expect(throws: StandInError.self) { try server.reconfigure(json: ["failure": [:]]) }
    #expect(throws: StandInError.self) { try server.reconfigure(json: ["tickets": "many"]) }

    #expect(try companyInfo(server)["Codebase"] as? String == "v2025_1/")
    let tickets = server.baseURL(codebase: "v2025_1/") + "/service/tickets?pageSize=1000"
    #expect(try curl(server, tickets, apiKey).array().count == 60)
  }

  @Test func reconfigureAddsFailuresBetweenCalls() throws {
    let server = try StandInServer()
    let info = "/v2025_1/apis/3.0/system/info"
    #expect(try curl(server, server.url(info), apiKey).status == 200)

    try server.reconfigure(StandInPatch(failures: [info: [.status(500)]]))

    #expect(try curl(server, server.url(info), apiKey).status == 500)
    #expect(try curl(server, server.url(info), apiKey).status == 200)
  }

  @Test func httpControlRoutesChangeTheServerToo() throws {
    let server = try StandInServer()
    let token = try requestToken(server).object()
    let pair = "\(token["publicKey"] as? String ?? ""):\(token["privateKey"] as? String ?? "")"
    let info = server.baseURL(codebase: "v2025_1/") + "/system/info"
    let asToken = ["-u", "acme+\(pair)", "-H", "clientId: \(clientId)"]
    #expect(try curl(server, info, asToken).status == 200)

    let patched = try curl(server, server.url("/__test/config"), ["--data", #"{"tickets": 3}"#])
    #expect(try patched.object()["ok"] as? Bool == true)
    #expect(try curl(server, server.url("/__test/config")).object()["tickets"] as? Int == 3)
    let refused = try curl(server, server.url("/__test/config"), ["--data", #"{"nope": 1}"#])
    #expect(refused.status == 400)
    #expect(try curl(server, server.url("/__test/expire-tokens"), ["-X", "POST"]).status == 200)

    #expect(try curl(server, info, asToken).status == 401)
    let tickets = server.baseURL(codebase: "v2025_1/") + "/service/tickets"
    #expect(try curl(server, tickets, apiKey).array().count == 3)
  }
}

// MARK: - Driving curl

private let clientId = StandInConfig().clientId
private let apiKey = ["-u", "acme+PUB:PRIV", "-H", "clientId: \(clientId)"]
private let unauthenticated = #"{"code":"ConnectWiseApi","message":"UserNotAuthenticated"}"#
private let curlPath = "/usr/bin/curl"

/// What one curl run gave: its exit code, the last response's status (0 when
/// there was none), headers and body.
private struct CurlResult {
  var exitCode: Int32
  var status: Int
  var headers: [(String, String)]
  var body: Data
  var stderr: String

  var text: String { String(decoding: body, as: UTF8.self) }

  func header(_ name: String) -> String? {
    headers.first { $0.0.lowercased() == name.lowercased() }?.1
  }

  func object() throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: body) as? [String: Any], "\(text)")
  }

  /// The body as compact JSON with sorted keys, to compare whole answers.
  func json() throws -> String {
    let value = try JSONSerialization.jsonObject(with: body)
    let data = try JSONSerialization.data(
      withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
  }

  func array() throws -> [Any] {
    try #require(JSONSerialization.jsonObject(with: body) as? [Any], "\(text)")
  }
}

/// Runs curl on its own: no ~/.curlrc, no proxy, the stand-in's CA.
private func runCurl(_ server: StandInServer, _ arguments: [String]) throws -> (
  Int32, String, String
) {
  try #require(
    FileManager.default.isExecutableFile(atPath: curlPath), "these tests need \(curlPath)")
  let process = Process()
  process.executableURL = URL(fileURLWithPath: curlPath)
  process.arguments =
    ["--disable", "--silent", "--show-error", "--noproxy", "*", "--max-time", "20"]
    + ["--cacert", server.caFile] + arguments
  let output = Pipe()
  let errors = Pipe()
  process.standardInput = FileHandle.nullDevice
  process.standardOutput = output
  process.standardError = errors
  try process.run()
  let out = output.fileHandleForReading.readDataToEndOfFile()
  let err = errors.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (
    process.terminationStatus, String(decoding: out, as: UTF8.self),
    String(decoding: err, as: UTF8.self)
  )
}

/// One request to `url`, which must be on this stand-in.
private func curl(_ server: StandInServer, _ url: String, _ options: [String] = []) throws
  -> CurlResult
{
  try #require(url.hasPrefix("https://127.0.0.1:\(server.port)/"), "not the stand-in: \(url)")
  let directory = try makeTemporaryDirectory(prefix: "cwm-curl")
  defer { try? FileManager.default.removeItem(at: directory) }
  let headerFile = directory.appendingPathComponent("headers")
  let bodyFile = directory.appendingPathComponent("body")
  let (exitCode, status, stderr) = try runCurl(
    server,
    options + [
      "--dump-header", headerFile.path, "--output", bodyFile.path,
      "--write-out", "%{http_code}", url,
    ])
  let dumped = (try? String(contentsOf: headerFile, encoding: .utf8)) ?? ""
  // With --location the file holds every response; the last one counts.
  let block = dumped.components(separatedBy: "\r\n\r\n").last { !$0.isEmpty } ?? ""
  let headers = block.components(separatedBy: "\r\n").dropFirst().compactMap {
    line -> (String, String)? in
    guard let colon = line.firstIndex(of: ":") else { return nil }
    return (
      String(line[..<colon]),
      line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    )
  }
  return CurlResult(
    exitCode: exitCode, status: Int(status) ?? 0, headers: headers,
    body: (try? Data(contentsOf: bodyFile)) ?? Data(), stderr: stderr)
}

/// The statuses of `urls`, requested all at once over separate connections.
private func curlInParallel(_ server: StandInServer, _ urls: [String], _ options: [String])
  throws -> [Int]
{
  for url in urls {
    try #require(url.hasPrefix("https://127.0.0.1:\(server.port)/"), "not the stand-in: \(url)")
  }
  let discard = urls.flatMap { ["--output", "/dev/null", $0] }
  let (exitCode, statuses, stderr) = try runCurl(
    server,
    ["--parallel", "--parallel-immediate", "--parallel-max", "\(urls.count)"] + options
      + ["--write-out", "%{http_code}\n"] + discard)
  #expect(exitCode == 0, "curl said: \(stderr)")
  return statuses.split(separator: "\n").compactMap { Int($0) }
}

private func requestToken(
  _ server: StandInServer, member: String = "jdoe", auth: [String] = apiKey,
  userType: String? = "member", options: [String] = []
) throws -> CurlResult {
  let url = server.baseURL(codebase: "v2025_1/") + "/system/members/\(member)/tokens"
  let type = userType.map { ["-H", "x-cw-usertype: \($0)"] } ?? []
  return try curl(server, url, auth + type + ["-X", "POST"] + options)
}

private func login(_ server: StandInServer, _ user: String, _ password: String) throws
  -> CurlResult
{
  try curl(
    server, server.url("/v2025_1/login/login.aspx?response=json"),
    [
      "--data-urlencode", "CompanyName=acme", "--data-urlencode", "UserName=\(user)",
      "--data-urlencode", "Password=\(password)",
    ])
}

private func companyInfo(_ server: StandInServer) throws -> [String: Any] {
  try curl(server, server.url("/login/companyinfo/acme")).object()
}

/// `rel` to URL, from a Link header such as `<u1>; rel="next", <u2>; rel="last"`.
private func parseLinks(_ header: String?) -> [String: String] {
  var links: [String: String] = [:]
  for match in (header ?? "").matches(of: /<([^>]*)>\s*;\s*rel="([^"]+)"/) {
    links[String(match.2)] = String(match.1)
  }
  return links
}

private struct Page {
  var count: Int
  var links: [String: String]
  var rawLink: String?
}

/// Follows `rel="next"` from `url` until there is none (or it is empty), as
/// a client pages; returns every id seen, in order, and what each page was.
private func collect(_ server: StandInServer, from url: String, auth: [String]) throws -> (
  [Int], [Page]
) {
  var ids: [Int] = []
  var pages: [Page] = []
  var next: String? = url
  while let current = next, !current.isEmpty {
    try #require(pages.count < 10, "paging does not end")
    let response = try curl(server, current, auth)
    try #require(response.status == 200, "\(current): \(response.text)")
    let items = try response.array().compactMap { ($0 as? [String: Any])?["id"] as? Int }
    let links = parseLinks(response.header("Link"))
    ids += items
    pages.append(Page(count: items.count, links: links, rawLink: response.header("Link")))
    next = links["next"]
  }
  return (ids, pages)
}
