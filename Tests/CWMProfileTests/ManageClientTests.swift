import Testing

@testable import CWMProfile

@Suite struct ManageClientTests {
  let connection = Connection(
    profile: "acme", server: "cw.example.com", company: "acme", codebase: "v2025_1",
    baseURL: "https://cw.example.com/v2025_1/apis/3.0", method: .apiKey, apiVersion: "2025.1",
    headers: [HTTPHeader("Authorization", "Basic x")])

  func client(_ steps: [Result<HTTPResponse, HTTPError>] = []) -> ManageClient {
    ManageClient(connection: connection, transport: SequenceTransport(steps))
  }

  /// A 200 answer with `body` and `headers`.
  func page(_ body: String, _ headers: [HTTPHeader] = []) -> Result<HTTPResponse, HTTPError> {
    .success(
      HTTPResponse(
        status: 200, headers: headers, body: Array(body.utf8), url: connection.baseURL + "/t"))
  }

  @Test func conditionsAreEncodedAsTheAPIExpects() throws {
    let url = try client().url(
      "/service/tickets", query: [("conditions", "status/name=\"Open\" and id > 5")])

    #expect(
      url
        == "https://cw.example.com/v2025_1/apis/3.0/service/tickets"
        + "?conditions=status%2Fname%3D%22Open%22%20and%20id%20%3E%205")
  }

  @Test func queryIsAppendedToAPathThatHasOne() throws {
    let url = try client().url("service/tickets?page=2", query: [("pageSize", "10")])

    #expect(url.hasSuffix("service/tickets?page=2&pageSize=10"))
  }

  @Test func fullURLsMustStayUnderTheBaseURL() throws {
    #expect(throws: ConnectError.self) {
      try client().url("https://collector.example.org/v2025_1/apis/3.0/x")
    }
    #expect(throws: ConnectError.self) { try client().url("service/tickets two") }
    let inside = try client().url("https://cw.example.com/v2025_1/apis/3.0/system/info")
    #expect(inside.hasSuffix("/system/info"))
  }

  @Test(arguments: [
    "../../../login/companyinfo/acme", "service/../../../x", "./system/info", "service/.",
    "%2e%2e/%2E%2e/login", "..%2f..%2flogin", "%252e%252e/x", "service\\..\\x",
    "service/..;/x", "\u{FF0E}\u{FF0E}/x", "service/%zz",
    "https://cw.example.com/v2025_1/apis/3.0/../../../x",
    "https://cw.example.com/v2025_1/apis/3.0/%2e%2e/%2e%2e/x",
  ])
  func pathsThatCouldLeaveTheBaseURLAreRefused(path: String) {
    #expect(throws: ConnectError.self) { try client().url(path) }
    #expect(throws: ConnectError.self) { try ManageClient.checkPath(path) }
  }

  @Test func dotsInsideNamesAndTheQueryAreFine() throws {
    let url = try client().url(
      "service/tickets/v1.2..3", query: [("conditions", "summary=\"../..\"")])

    #expect(url.hasPrefix(connection.baseURL + "/service/tickets/v1.2..3?conditions="))
  }

  @Test func aFullURLElsewhereIsAnArgumentErrorNotAProfileOne() {
    do {
      _ = try client().url("https://example.invalid/x")
      Issue.record("expected an error")
    } catch {
      guard case .invalidPath = error else {
        Issue.record("expected invalidPath, got \(error)")
        return
      }
      #expect(error.description.contains("must be under the base URL \(connection.baseURL)/"))
      #expect(!error.description.contains("profile"))
    }
  }

  @Test func nonJSONAnswersAreUnexpected() throws {
    let html = page("<html>", [HTTPHeader("Content-Type", "text/html")])
    let notJSON = page("Sign in", [HTTPHeader("Content-Type", "text/plain")])
    let empty = HTTPResponse(status: 204, headers: [], body: [], url: connection.baseURL)

    #expect(throws: ConnectError.self) { try client([html]).send("GET", "system/info") }
    #expect(throws: ConnectError.self) { try client([notJSON]).send("GET", "system/info") }
    #expect(try client([.success(empty)]).send("DELETE", "service/tickets/1").status == 204)
    #expect(try client([page(" [1, 2] ")]).send("GET", "t").status == 200)
    #expect(try client([page("42")]).send("GET", "t/count").status == 200)
  }

  @Test func aNextLinkThatCannotBeReadEndsPagingWithAnError() throws {
    let base = connection.baseURL
    let broken = page("[1]", [HTTPHeader("Link", "<\(base)/t?page=2; rel=next")])
    var pages = 0

    #expect(throws: ConnectError.self) {
      try client([broken]).eachPage("t") { _ in pages += 1 }
    }
    #expect(pages == 1)
  }

  @Test(arguments: [
    "<BASE/t?page=2; rel=next", "<BASE/t?page=2>; rel=\"next", "BASE/t?page=2; rel=next",
    "<BASE/t?page=2> rel=next", "<BASE/../../../../login/companyinfo/acme>; rel=next",
    "<BASE/t/%2e%2e/%2e%2e/x>; rel=\"next\"", "<BASE/t?page=2 x>; rel=next",
    "<BASE/t\u{7}?page=2>; rel=next", "<https://cw.example.com/v2025_1/apis/3.0x/t>; rel=next",
  ])
  func badNextLinksAreTheServersFault(header: String) {
    let base = connection.baseURL
    let response = HTTPResponse(
      status: 200,
      headers: [HTTPHeader("Link", header.replacingOccurrences(of: "BASE", with: base))],
      body: [], url: base + "/t")

    do {
      _ = try ManageClient.nextLink(response, base: base)
      Issue.record("expected an error for \(header)")
    } catch {
      guard case .unexpectedResponse = error else {
        Issue.record("expected unexpectedResponse, got \(error)")
        return
      }
    }
  }

  @Test func aLinkHeaderWithoutNextIsNotAnError() throws {
    let base = connection.baseURL
    let prevOnly = HTTPResponse(
      status: 200, headers: [HTTPHeader("Link", "<\(base)/t?page=1; rel=\"prev\"")], body: [],
      url: base)
    let quoted = HTTPResponse(
      status: 200,
      headers: [HTTPHeader("Link", "<\(base)/t?page=3>; title=\"a, b\"; rel=\"prev next\"")],
      body: [], url: base)

    #expect(try ManageClient.nextLink(prevOnly, base: base) == nil)
    #expect(try ManageClient.nextLink(quoted, base: base) == "\(base)/t?page=3")
  }

  @Test func nextLinkIsFoundAmongOthers() throws {
    let base = connection.baseURL
    let response = HTTPResponse(
      status: 200,
      headers: [
        HTTPHeader(
          "Link",
          "<\(base)/t?page=1>; rel=\"first\", <\(base)/t?page=3>; rel=\"next\", "
            + "<\(base)/t?page=9>; rel=\"last\"")
      ], body: [], url: base + "/t")

    #expect(try ManageClient.nextLink(response, base: base) == "\(base)/t?page=3")
  }

  @Test func anEmptyOrMissingNextLinkEndsPaging() throws {
    let base = connection.baseURL
    let empty = HTTPResponse(
      status: 200, headers: [HTTPHeader("Link", "<>; rel=\"next\"")], body: [], url: base)
    let none = HTTPResponse(
      status: 200, headers: [HTTPHeader("Link", "<\(base)/t?page=1>; rel=\"prev\"")], body: [],
      url: base)

    #expect(try ManageClient.nextLink(empty, base: base) == nil)
    #expect(try ManageClient.nextLink(none, base: base) == nil)
  }

  @Test func aNextLinkToAnotherHostIsRefused() throws {
    let base = connection.baseURL
    let response = HTTPResponse(
      status: 200,
      headers: [HTTPHeader("Link", "<https://collector.example.org/p?page=2>; rel=\"next\"")],
      body: [], url: base)

    #expect(throws: ConnectError.self) { try ManageClient.nextLink(response, base: base) }
  }
}
