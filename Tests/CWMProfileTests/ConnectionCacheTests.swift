import Foundation
import Testing

@testable import CWMProfile

@Suite struct ConnectionCacheTests {
  let directory: URL
  let profile = Profile(
    name: "acme", server: "cw.example.com", company: "acme", clientId: "cid",
    publicKey: "PUB", memberId: "jdoe", store: .memory)
  let secret = SecretBytes(utf8: "PRIV")

  init() {
    directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("cwm-cache-\(UUID().uuidString)")
  }

  var connection: Connection {
    Connection(
      profile: "acme", server: "cw.example.com", company: "acme", codebase: "v2025_1",
      baseURL: "https://cw.example.com/v2025_1/apis/3.0", method: .impersonation,
      apiVersion: "2025.1",
      headers: ConnectEngine.credentialHeaders(
        authorization: "Basic TOKEN", profile: profile, version: APIVersion("2025.1")),
      expiration: Date().addingTimeInterval(3600), isCloud: true)
  }

  @Test func aSavedConnectionComesBackWithItsHeaders() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = ConnectionCache(directory: directory.path)
    let store = MemorySecretStore()
    try cache.save(connection, profile: profile, options: .init(), secret: secret, store: store)

    let loaded = try #require(
      try cache.load(profile, options: .init(), secret: secret, store: store))

    #expect(loaded.fromCache)
    #expect(loaded.header("Authorization") == "Basic TOKEN")
    #expect(loaded.header("Accept") == "application/vnd.connectwise.com+json; version=2025.1")
    #expect(loaded.baseURL == connection.baseURL)
    #expect(loaded.isCloud == true)
    #expect(!cache.needsNewToken(loaded))
  }

  @Test func theFileHoldsNoSecret() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = ConnectionCache(directory: directory.path)
    try cache.save(
      connection, profile: profile, options: .init(), secret: secret, store: MemorySecretStore())

    let text = try String(contentsOfFile: cache.path("acme"), encoding: .utf8)

    #expect(!text.contains("TOKEN") && !text.contains("PRIV"))
    #expect(text.contains("v2025_1"))
  }

  @Test func changingAnyInputInvalidatesIt() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = ConnectionCache(directory: directory.path)
    let store = MemorySecretStore()
    try cache.save(connection, profile: profile, options: .init(), secret: secret, store: store)
    var variants: [Profile] = []
    for change in 0..<8 {
      var other = profile
      switch change {
      case 0: other.server = "cw2.example.com"
      case 1: other.company = "acme2"
      case 2: other.clientId = "cid2"
      case 3: other.publicKey = "PUB2"
      case 4: other.memberId = "other"
      case 5: other.apiVersion = "2024.1"
      case 6: other.codebase = "v4_6_release"
      default: other.caFile = "/tmp/ca.pem"
      }
      variants.append(other)
    }

    for variant in variants {
      #expect(try cache.load(variant, options: .init(), secret: secret, store: store) == nil)
    }
    #expect(
      try cache.load(profile, options: .init(), secret: SecretBytes(utf8: "NEW"), store: store)
        == nil)
    #expect(
      try cache.load(profile, options: .init(apiVersion: "2023.1"), secret: secret, store: store)
        == nil)
    #expect(try cache.load(profile, options: .init(), secret: secret, store: store) != nil)
  }

  @Test func itExpiresAndATokenNearItsEndIsRenewed() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = ConnectionCache(directory: directory.path, lifetime: 60, tokenMargin: 300)
    let store = MemorySecretStore()
    var short = connection
    short.expiration = Date().addingTimeInterval(120)
    try cache.save(short, profile: profile, options: .init(), secret: secret, store: store)

    let now = try #require(try cache.load(profile, options: .init(), secret: secret, store: store))
    let later = try cache.load(
      profile, options: .init(), secret: secret, store: store, now: Date().addingTimeInterval(61))

    #expect(cache.needsNewToken(now))
    #expect(later == nil)
  }

  @Test func aShorterLifetimeNowAppliesToWhatWasSavedAndZeroSavesNothing() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = MemorySecretStore()
    try ConnectionCache(directory: directory.path, lifetime: 3600).save(
      connection, profile: profile, options: .init(), secret: secret, store: store)
    let shorter = ConnectionCache(directory: directory.path, lifetime: 60)
    let none = ConnectionCache(directory: directory.path, lifetime: 0)

    let soon = try shorter.load(profile, options: .init(), secret: secret, store: store)
    let beyond = try shorter.load(
      profile, options: .init(), secret: secret, store: store, now: Date().addingTimeInterval(61))
    let withNone = try none.load(profile, options: .init(), secret: secret, store: store)
    try none.save(connection, profile: profile, options: .init(), secret: secret, store: store)

    #expect(soon != nil)
    #expect(beyond == nil)
    #expect(withNone == nil)
    #expect(!FileManager.default.fileExists(atPath: none.path("acme")))
    #expect(try store.read(SecretKey(profile: "acme", kind: .token)) == nil)
  }

  /// Saves `connection`, then puts `baseUrl` into the record as an editor would.
  func tampered(_ baseUrl: String, profile: Profile, connection: Connection) throws -> Connection? {
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = ConnectionCache(directory: directory.path)
    let store = MemorySecretStore()
    try cache.save(connection, profile: profile, options: .init(), secret: secret, store: store)
    let data = try #require(FileManager.default.contents(atPath: cache.path(profile.name)))
    var record = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    record["baseUrl"] = baseUrl
    try JSONSerialization.data(withJSONObject: record).write(
      to: URL(fileURLWithPath: cache.path(profile.name)))
    return try cache.load(profile, options: .init(), secret: secret, store: store)
  }

  @Test(arguments: [
    "https://cw.example.com:4444/v2025_1/apis/3.0", "http://cw.example.com/v2025_1/apis/3.0",
    "https://collector.example.org/v2025_1/apis/3.0", "https://cw.example.com/v2025_1/apis/3.1",
    "https://cw.example.com/v2024_1/apis/3.0", "https://cw.example.com/v2025_1/apis/3.0/x",
    "https://user@cw.example.com/v2025_1/apis/3.0", "https://cw.example.com/../apis/3.0",
    "https://cw.example.com.evil.example/v2025_1/apis/3.0", "",
  ])
  func anEditedBaseURLIsNotTrusted(baseUrl: String) throws {
    #expect(try tampered(baseUrl, profile: profile, connection: connection) == nil)
  }

  @Test func aBaseURLTheEngineWouldChooseIsTrusted() throws {
    var cloud = profile
    cloud.server = "na.myconnectwise.net"
    var made = connection
    made.baseURL = "https://api-na.myconnectwise.net/v2025_1/apis/3.0"

    let twin = try tampered(made.baseURL, profile: cloud, connection: made)
    let site = try tampered(
      "https://api-eu.myconnectwise.net/v2025_1/apis/3.0", profile: cloud, connection: made)
    let same = try tampered(connection.baseURL, profile: profile, connection: connection)

    #expect(twin?.baseURL == made.baseURL)
    #expect(site != nil)
    #expect(same?.baseURL == connection.baseURL)
  }

  @Test func aLoadedConnectionSaysUntilWhenItIsTrusted() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = ConnectionCache(directory: directory.path, lifetime: 600)
    let store = MemorySecretStore()
    let now = Date()
    try cache.save(
      connection, profile: profile, options: .init(), secret: secret, store: store, now: now)

    let loaded = try #require(
      try cache.load(profile, options: .init(), secret: secret, store: store))

    let until = try #require(loaded.cachedUntil)
    #expect(abs(until.timeIntervalSince(now) - 600) < 1)
  }

  @Test func forgetRemovesBothHalves() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = ConnectionCache(directory: directory.path)
    let store = MemorySecretStore()
    try cache.save(connection, profile: profile, options: .init(), secret: secret, store: store)

    try cache.forget("acme", store: store)

    #expect(try store.read(SecretKey(profile: "acme", kind: .token)) == nil)
    #expect(!FileManager.default.fileExists(atPath: cache.path("acme")))
    #expect(try cache.load(profile, options: .init(), secret: secret, store: store) == nil)
  }
}

@Suite struct ConnectEngineMethodTests {
  let companyURL = "https://cw.example.com/login/companyinfo/acme"
  let base = "https://cw.example.com/v4_6_release/apis/3.0"

  func engine(_ transport: ScriptedTransport) -> ConnectEngine {
    ConnectEngine(transport: { _ in transport })
  }

  @Test func impersonationAuthenticatesWithTheToken() throws {
    let transport = ScriptedTransport()
    let profile = Profile(
      name: "acme", server: "cw.example.com", company: "acme", clientId: "cid",
      publicKey: "PUB", memberId: "jdoe", store: .memory)
    transport.answer(companyURL, json: #"{"Codebase":"v4_6_release/"}"#)
    transport.answer(
      base + "/system/members/jdoe/tokens",
      json: #"{"publicKey":"TP","privateKey":"TK","expiration":"2031-06-12T22:20:38Z"}"#)
    transport.answer(base + "/system/info", json: #"{"version":"v2025.1.1"}"#)

    let connection = try engine(transport).connect(profile, secret: SecretBytes(utf8: "PRIV"))

    let tokenRequest = transport.sent[1]
    #expect(tokenRequest.method == "POST")
    #expect(
      tokenRequest.headers.contains(
        HTTPHeader("Authorization", "Basic " + Data("acme+PUB:PRIV".utf8).base64EncodedString())))
    #expect(tokenRequest.headers.contains(HTTPHeader("x-cw-usertype", "member")))
    let expected = "Basic " + Data("acme+TP:TK".utf8).base64EncodedString()
    #expect(transport.sent[2].headers.contains(HTTPHeader("Authorization", expected)))
    #expect(connection.header("Authorization") == expected)
    #expect(connection.expiration == parseTimestamp("2031-06-12T22:20:38Z"))
  }

  @Test func cookieLoginSendsTheFormAndNoAuthorization() throws {
    let transport = ScriptedTransport()
    let profile = Profile(
      name: "acme", server: "cw.example.com", company: "acme & co", clientId: "cid",
      publicKey: nil, username: "j.doe+x", store: .memory)
    transport.answer(
      "https://cw.example.com/login/companyinfo/acme%20&%20co",
      json: #"{"Codebase":"v4_6_release/"}"#)
    transport.answer(
      "https://cw.example.com/v4_6_release/login/login.aspx?response=json",
      json: #"{"Success":true,"Hash":"H123"}"#)
    transport.answer(base + "/system/info", json: #"{"version":"v2025.1.1"}"#)

    let connection = try engine(transport).connect(
      profile, secret: SecretBytes(utf8: "p&w=d+%é"))

    let form = String(decoding: transport.sent[1].body ?? [], as: UTF8.self)
    #expect(form.contains("CompanyName=acme%20%26%20co"))
    #expect(form.contains("UserName=j.doe%2Bx"))
    #expect(form.contains("Password=p%26w%3Dd%2B%25%C3%A9"))
    let validation = transport.sent[2]
    #expect(!validation.headers.contains { $0.name == "Authorization" })
    #expect(
      validation.headers.contains(
        HTTPHeader(
          "Cookie", "companyName=acme & co; memberHash=H123; MemberID=j.doe+x; MemberContext=web")))
    #expect(connection.cookies.count == 4)
  }

  @Test(arguments: ["H1\r\nX-Injected: 1", "H 1", "H;1", "H\u{0}", "Hé", ""])
  func aLoginHashThatCannotBeACookieIsTheServersFault(hash: String) throws {
    let transport = ScriptedTransport()
    let profile = Profile(
      name: "acme", server: "cw.example.com", company: "acme", clientId: "cid", publicKey: nil,
      username: "jdoe", store: .memory)
    transport.answer(companyURL, json: #"{"Codebase":"v4_6_release/"}"#)
    let body = try JSONSerialization.data(withJSONObject: ["Success": true, "Hash": hash])
    transport.answer(
      "https://cw.example.com/v4_6_release/login/login.aspx?response=json",
      json: String(decoding: body, as: UTF8.self))
    transport.answer(base + "/system/info", json: #"{"version":"v2025.1.1"}"#)

    do {
      _ = try engine(transport).connect(profile, secret: SecretBytes(utf8: "pw"))
      Issue.record("expected an error")
    } catch {
      guard case .unexpectedResponse = error else {
        Issue.record("expected unexpectedResponse, got \(error)")
        return
      }
      #expect(!error.description.contains("H1"))
    }
    #expect(transport.sent.count == 2)
  }

  @Test func aRefusedLoginMentionsMultiFactorAuthentication() throws {
    let transport = ScriptedTransport()
    let profile = Profile(
      name: "acme", server: "cw.example.com", company: "acme", clientId: "cid", publicKey: nil,
      username: "jdoe", store: .memory)
    transport.answer(companyURL, json: #"{"Codebase":"v4_6_release/"}"#)
    transport.answer(
      "https://cw.example.com/v4_6_release/login/login.aspx?response=json",
      json: #"{"Success":false}"#)

    do {
      _ = try engine(transport).connect(profile, secret: SecretBytes(utf8: "pw"))
      Issue.record("expected an error")
    } catch {
      #expect(error == .loginRefused(username: "jdoe"))
      #expect(error.description.contains("multi-factor"))
    }
  }
}
