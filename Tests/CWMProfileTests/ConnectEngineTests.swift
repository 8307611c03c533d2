import Foundation
import Testing

@testable import CWMProfile

/// The connect logic above the transport, with answers scripted per URL.
/// The same flow runs over real TLS against the stand-in server in the
/// end-to-end tests.
final class ScriptedTransport: HTTPTransport, @unchecked Sendable {
  private let lock = NSLock()
  private var answers: [String: HTTPResponse] = [:]
  private(set) var sent: [HTTPRequest] = []

  func answer(_ url: String, status: Int = 200, json: String, headers: [HTTPHeader] = []) {
    answers[url] = HTTPResponse(
      status: status, headers: [HTTPHeader("Content-Type", "application/json")] + headers,
      body: Array(json.utf8), url: url)
  }

  func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
    lock.withLock { sent.append(request) }
    guard let answer = lock.withLock({ answers[request.url] }) else {
      throw .connectionRefused(host: request.url)
    }
    return answer
  }
}

@Suite struct ConnectEngineTests {
  let profile = Profile(
    name: "acme", server: "cw.example.com", company: "acme", clientId: "cid",
    publicKey: "PUB123", store: .memory)
  let companyURL = "https://cw.example.com/login/companyinfo/acme"
  let systemURL = "https://cw.example.com/v4_6_release/apis/3.0/system/info"

  func secrets() throws -> MemorySecretStore {
    let store = MemorySecretStore()
    try store.write(SecretBytes(utf8: "PRIV456"), for: profile.primarySecret, label: "l")
    return store
  }

  func engine(_ transport: ScriptedTransport) -> ConnectEngine {
    ConnectEngine(transport: { _ in transport })
  }

  @Test func buildsAConnectionWithTheDetectedVersion() throws {
    let transport = ScriptedTransport()
    transport.answer(companyURL, json: #"{"Codebase":"v4_6_release/","IsCloud":false}"#)
    transport.answer(systemURL, json: #"{"version":"v2025.1.10432"}"#)

    let connection = try engine(transport).connect(profile, secrets: secrets())

    #expect(connection.baseURL == "https://cw.example.com/v4_6_release/apis/3.0")
    #expect(connection.codebase == "v4_6_release")
    #expect(connection.apiVersion == "2025.1")
    #expect(connection.header("Authorization") == "Basic YWNtZStQVUIxMjM6UFJJVjQ1Ng==")
    #expect(connection.header("Accept") == "application/vnd.connectwise.com+json; version=2025.1")
    #expect(transport.sent.count == 2)
    #expect(transport.sent[0].headers.allSatisfy { $0.name != "Authorization" })
    let probeAccept = transport.sent[1].headers.first { $0.name == "Accept" }?.value
    #expect(probeAccept == "application/vnd.connectwise.com+json")
  }

  @Test func aPinnedVersionIsSentWhileValidating() throws {
    let transport = ScriptedTransport()
    transport.answer(companyURL, json: #"{"Codebase":"v4_6_release/"}"#)
    transport.answer(systemURL, json: #"{"version":"v2025.1.1"}"#)

    let connection = try engine(transport).connect(
      profile, secrets: secrets(), options: .init(apiVersion: "2024.2"))

    #expect(connection.apiVersion == "2024.2")
    let probeAccept = transport.sent[1].headers.first { $0.name == "Accept" }?.value
    #expect(probeAccept == "application/vnd.connectwise.com+json; version=2024.2")
  }

  @Test func unknownCompanyIsNotAnAuthenticationFailure() throws {
    let transport = ScriptedTransport()
    transport.answer(companyURL, json: "null")

    #expect(throws: ConnectError.unknownCompany(company: "acme", server: "cw.example.com")) {
      try engine(transport).connect(profile, secrets: secrets())
    }
    #expect(transport.sent.count == 1)
  }

  @Test func anUntrustedSiteUrlIsNotFollowed() throws {
    let transport = ScriptedTransport()
    transport.answer(
      companyURL, json: #"{"Codebase":"v4_6_release/","SiteUrl":"collector.example.org"}"#)
    transport.answer(systemURL, json: #"{"version":"v2025.1.1"}"#)

    let connection = try engine(transport).connect(profile, secrets: secrets())

    #expect(connection.baseURL.hasPrefix("https://cw.example.com/"))
    #expect(transport.sent.allSatisfy { $0.url.hasPrefix("https://cw.example.com/") })
  }

  @Test func aConnectWiseSiteUrlIsUsedForTheAPI() throws {
    let transport = ScriptedTransport()
    let cloud = Profile(
      name: "c", server: "na.myconnectwise.net", company: "acme", clientId: "cid",
      publicKey: "PUB123", store: .memory)
    let store = MemorySecretStore()
    try store.write(SecretBytes(utf8: "K"), for: cloud.primarySecret, label: "l")
    transport.answer(
      "https://na.myconnectwise.net/login/companyinfo/acme",
      json: #"{"Codebase":"v2025_1/","SiteUrl":"api-na.myconnectwise.net"}"#)
    transport.answer(
      "https://api-na.myconnectwise.net/v2025_1/apis/3.0/system/info",
      json: #"{"version":"v2025.1.1"}"#)

    let connection = try engine(transport).connect(cloud, secrets: store)

    #expect(connection.baseURL == "https://api-na.myconnectwise.net/v2025_1/apis/3.0")
  }

  @Test func serverErrorsCarryTheirCodeAndMessage() throws {
    let transport = ScriptedTransport()
    transport.answer(companyURL, json: #"{"Codebase":"v4_6_release/"}"#)
    transport.answer(
      systemURL, status: 403,
      json: #"{"code":"Security","message":"You do not have security permission."}"#)

    #expect(
      throws: ConnectError.forbidden(
        code: "Security", message: "You do not have security permission.")
    ) { try engine(transport).connect(profile, secrets: secrets()) }
  }

  @Test func htmlWhereJSONWasExpectedIsNamedAsSuch() throws {
    let transport = ScriptedTransport()
    transport.answer(companyURL, json: "<html><body>Login</body></html>")

    let store = try secrets()
    do {
      _ = try engine(transport).connect(profile, secrets: store)
      Issue.record("expected an error")
    } catch {
      guard case .unexpectedResponse(_, let reason) = error else {
        Issue.record("got \(error)")
        return
      }
      #expect(reason.contains("HTML"))
    }
  }

  @Test func aMissingSecretIsReportedBeforeAnyRequest() throws {
    let transport = ScriptedTransport()
    transport.answer(companyURL, json: #"{"Codebase":"v4_6_release/"}"#)

    #expect(throws: ConnectError.secretMissing(profile: "acme", kind: .privateKey, store: .memory))
    {
      try engine(transport).connect(profile, secrets: MemorySecretStore())
    }
    #expect(transport.sent.isEmpty)
  }

  @Test func errorDescriptionsNeverContainTheSecret() throws {
    let transport = ScriptedTransport()
    transport.answer(companyURL, json: #"{"Codebase":"v4_6_release/"}"#)
    transport.answer(
      systemURL, status: 401, json: #"{"code":"ConnectWiseApi","message":"UserNotAuthenticated"}"#)

    let store = try secrets()
    do {
      _ = try engine(transport).connect(profile, secrets: store)
      Issue.record("expected an error")
    } catch {
      #expect(
        error == .authenticationFailed(code: "ConnectWiseApi", message: "UserNotAuthenticated"))
      #expect(!error.description.contains("PRIV456"))
      #expect(!error.description.contains("YWNtZStQVUIxMjM6UFJJVjQ1Ng"))
    }
  }
}
