import Testing

@testable import CWMProfile

@Suite struct ManageClientTests {
  let connection = Connection(
    profile: "acme", server: "cw.example.com", company: "acme", codebase: "v2025_1",
    baseURL: "https://cw.example.com/v2025_1/apis/3.0", method: .apiKey, apiVersion: "2025.1",
    headers: [HTTPHeader("Authorization", "Basic x")])

  func client() -> ManageClient {
    ManageClient(connection: connection, transport: SequenceTransport([]))
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
