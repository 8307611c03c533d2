import Foundation
import TestSupport
import Testing

/// Every way to authenticate, the connection cache, and the stand-in's
/// hostile answers, through the built command over real TLS.
@Suite struct ConnectMethodsEndToEndTests {
  static let passphrase: [String: String?] = [
    "CWM_PROFILE_PASSPHRASE": "e2e", "CWM_PROFILE_RETRY_DELAY": "0.05",
  ]
  static let password = "p&ss=w+rd%é"

  static func config() -> StandInConfig {
    var config = StandInConfig()
    config.companies["Acme & Söhne"] = .init(codebase: "v2025_1/", isCloud: true)
    config.credentials += [
      .init(company: "Acme & Söhne", publicKey: "PÜB", privateKey: "PRÏV"),
      .init(company: "acme", publicKey: "NOIMP", privateKey: "NOIMP-PRIV", canImpersonate: false),
    ]
    config.users = [
      .init(company: "acme", username: "j.doe", password: password),
      .init(company: "acme", username: "mfa.user", password: "pw", mfa: true),
    ]
    return config
  }

  func paths(_ requests: [RecordedRequest]) -> [String] { requests.map(\.path) }

  @Test func eachMethodConnectsThenComesFromTheCache() throws {
    let server = try StandInServer(config: Self.config())
    let cli = try CLIHarness()
    try cli.add("key", server: server, extra: Self.passphrase)
    try cli.add("imp", server: server, more: ["--member-id", "jdoe"], extra: Self.passphrase)
    try cli.run(
      [
        "add", "cookie", "--server", server.host, "--company", "acme", "--client-id",
        StandInConfig().clientId, "--username", "j.doe", "--ca-file", server.caFile,
      ], stdin: Self.password + "\n", extra: Self.passphrase)
    try cli.add(
      "umlaut", server: server, company: "Acme & Söhne", publicKey: "PÜB", privateKey: "PRÏV",
      extra: Self.passphrase)

    for name in ["key", "imp", "cookie", "umlaut"] {
      try server.clearRequests()
      let first = try cli.run(["connect", name, "--format", "json"], extra: Self.passphrase)
      let afterFirst = try server.requests()
      let second = try cli.run(["connect", name, "--format", "json"], extra: Self.passphrase)
      let afterSecond = try server.requests()

      #expect(first.status == 0, "\(name): \(first.summary)")
      #expect(second.status == 0, "\(name): \(second.summary)")
      #expect(afterFirst.last?.path.hasSuffix("/system/info") == true, "\(name)")
      #expect(afterSecond.count == afterFirst.count, "\(name): the second connect made requests")
      #expect(first.stdout == second.stdout, "\(name)")
    }
  }

  @Test func impersonationUsesTheKeyForTheTokenAndTheTokenAfterwards() throws {
    let server = try StandInServer(config: Self.config())
    let cli = try CLIHarness()
    try cli.add("imp", server: server, more: ["--member-id", "jdoe"], extra: Self.passphrase)

    let result = try cli.run(["connect", "imp", "--format", "json"], extra: Self.passphrase)

    #expect(result.status == 0, "\(result.summary)")
    let requests = try server.requests()
    #expect(
      paths(requests) == [
        "/login/companyinfo/acme", "/v2025_1/apis/3.0/system/members/jdoe/tokens",
        "/v2025_1/apis/3.0/system/info",
      ])
    let keyAuth = "Basic " + Data("acme+PUB:PRIV".utf8).base64EncodedString()
    #expect(requests[1].method == "POST")
    #expect(requests[1].header("Authorization") == keyAuth)
    #expect(requests[1].header("x-cw-usertype") == "member")
    let tokenAuth = try #require(requests[2].header("Authorization"))
    #expect(tokenAuth != keyAuth)
    #expect(result.stdout.contains(tokenAuth))
    #expect(!result.stdout.contains("\"expiration\" : null"))
  }

  @Test func aShortLivedTokenIsRenewedWithoutAskingTheServerAnythingElse() throws {
    var config = Self.config()
    config.tokenLifetimeSeconds = 60
    let server = try StandInServer(config: config)
    let cli = try CLIHarness()
    try cli.add("imp", server: server, more: ["--member-id", "jdoe"], extra: Self.passphrase)
    try cli.run(["connect", "imp"], extra: Self.passphrase)
    try server.clearRequests()

    let renewed = try cli.run(["api", "imp", "system/info"], extra: Self.passphrase)

    #expect(renewed.status == 0, "\(renewed.summary)")
    #expect(
      paths(try server.requests()) == [
        "/v2025_1/apis/3.0/system/members/jdoe/tokens", "/v2025_1/apis/3.0/system/info",
      ])
  }

  @Test func anExpiredTokenIsReplacedWhenTheServerRefusesIt() throws {
    let server = try StandInServer(config: Self.config())
    let cli = try CLIHarness()
    try cli.add("imp", server: server, more: ["--member-id", "jdoe"], extra: Self.passphrase)
    try cli.run(["connect", "imp"], extra: Self.passphrase)
    try server.expireTokens()
    try server.clearRequests()

    let result = try cli.run(["api", "imp", "system/info"], extra: Self.passphrase)

    #expect(result.status == 0, "\(result.summary)")
    #expect(result.stdout.contains("\"version\""))
    let paths = paths(try server.requests())
    #expect(paths.first == "/v2025_1/apis/3.0/system/info")
    #expect(paths.filter { $0.hasSuffix("/tokens") }.count == 1)
  }

  @Test func cookieLoginSendsCookiesAndNoAuthorization() throws {
    let server = try StandInServer(config: Self.config())
    let cli = try CLIHarness()
    try cli.run(
      [
        "add", "cookie", "--server", server.host, "--company", "acme", "--client-id",
        StandInConfig().clientId, "--username", "j.doe", "--ca-file", server.caFile,
      ], stdin: Self.password + "\n", extra: Self.passphrase)

    let result = try cli.run(["connect", "cookie", "--format", "json"], extra: Self.passphrase)

    #expect(result.status == 0, "\(result.summary)")
    let requests = try server.requests()
    #expect(requests[1].path == "/v2025_1/login/login.aspx")
    #expect(!requests[1].body.contains(Self.password))
    let validation = requests[2]
    #expect(validation.header("Authorization") == nil)
    let cookie = try #require(validation.header("Cookie"))
    #expect(cookie.contains("MemberID=j.doe") && cookie.contains("MemberContext=web"))
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    #expect((object["cookies"] as? [String: String])?.count == 4)
  }

  @Test func badAnswersForEachMethodAreOneLineErrors() throws {
    let server = try StandInServer(config: Self.config())
    let cli = try CLIHarness()
    try cli.add("nomember", server: server, more: ["--member-id", "ghost"], extra: Self.passphrase)
    try cli.add(
      "noimp", server: server, publicKey: "NOIMP", privateKey: "NOIMP-PRIV",
      more: ["--member-id", "jdoe"], extra: Self.passphrase)
    for (name, user, password) in [("mfa", "mfa.user", "pw"), ("badpw", "j.doe", "wrong")] {
      try cli.run(
        [
          "add", name, "--server", server.host, "--company", "acme", "--client-id",
          StandInConfig().clientId, "--username", user, "--ca-file", server.caFile,
        ], stdin: password + "\n", extra: Self.passphrase)
    }

    let cases: [(String, Int32, String)] = [
      ("nomember", 36, "ghost"), ("noimp", 37, "impersonate"), ("mfa", 38, "multi-factor"),
      ("badpw", 38, "multi-factor"),
    ]
    for (name, status, text) in cases {
      let result = try cli.run(["connect", name], extra: Self.passphrase)
      let again = try cli.run(["connect", name], extra: Self.passphrase)
      #expect(result.status == status, "\(name): \(result.summary)")
      #expect(result.stderr.contains(text), "\(name): \(result.summary)")
      #expect(result.stderrIsOneLine, "\(name)")
      #expect(again.status == status, "\(name): a failure must not be cached as success")
    }
  }

  @Test func theCacheBelongsToWhatItWasMadeFrom() throws {
    let server = try StandInServer(config: Self.config())
    let cli = try CLIHarness()
    try cli.add("key", server: server, extra: Self.passphrase)
    try cli.run(["connect", "key"], extra: Self.passphrase)
    func requestsFor(_ arguments: [String]) throws -> Int {
      try server.clearRequests()
      let result = try cli.run(arguments, extra: Self.passphrase)
      #expect(result.status == 0, "\(arguments): \(result.summary)")
      return try server.requests().count
    }

    #expect(try requestsFor(["connect", "key"]) == 0)
    #expect(try requestsFor(["connect", "key", "--force"]) == 2)
    #expect(try requestsFor(["connect", "key", "--api-version", "2024.1"]) == 2)
    #expect(try requestsFor(["connect", "key", "--api-version", "2024.1"]) == 0)
    #expect(try requestsFor(["connect", "key"]) == 2)
    #expect(try requestsFor(["connect", "key"]) == 0)
    #expect(try requestsFor(["disconnect", "key"]) == 0)
    #expect(try requestsFor(["connect", "key"]) == 2)
    try cli.run(["remove", "key"], extra: Self.passphrase)
    try cli.add("key", server: server, publicKey: "PUB", privateKey: "PRIV", extra: Self.passphrase)
    #expect(try requestsFor(["connect", "key"]) == 2)
    let cacheFiles = try FileManager.default.contentsOfDirectory(
      atPath: cli.home.path + "/cache/cwm-profile/connections")
    let text = try String(
      contentsOfFile: cli.home.path + "/cache/cwm-profile/connections/" + cacheFiles[0],
      encoding: .utf8)
    #expect(!text.contains("PRIV") && !text.contains("Basic"))
  }

  @Test func aFailedForcedConnectLeavesNothingThatLooksLikeSuccess() throws {
    let server = try StandInServer(config: Self.config())
    let cli = try CLIHarness()
    try cli.add("key", server: server, extra: Self.passphrase)
    try cli.run(["connect", "key"], extra: Self.passphrase)
    try server.reconfigure(StandInPatch(credentials: []))

    let forced = try cli.run(["connect", "key", "--force"], extra: Self.passphrase)
    let after = try cli.run(["connect", "key"], extra: Self.passphrase)

    #expect(forced.status == 32, "\(forced.summary)")
    #expect(after.status == 32, "\(after.summary)")
  }

  @Test func aMovedCloudCodebaseIsLookedUpAgainOnce() throws {
    let server = try StandInServer(config: Self.config())
    let cli = try CLIHarness()
    try cli.add("key", server: server, extra: Self.passphrase)
    try cli.run(["connect", "key"], extra: Self.passphrase)
    // A ConnectWise release moves every company of the cloud site at once.
    try server.reconfigure(
      StandInPatch(companies: [
        "acme": .init(codebase: "v2025_2/", isCloud: true),
        "Acme & Söhne": .init(codebase: "v2025_2/", isCloud: true),
      ]))
    try server.clearRequests()

    let result = try cli.run(["api", "key", "system/info"], extra: Self.passphrase)
    let connect = try cli.run(["connect", "key", "--format", "json"], extra: Self.passphrase)

    let seen = paths(try server.requests())
    #expect(result.status == 0, "\(result.summary)")
    #expect(
      seen == [
        "/v2025_1/apis/3.0/system/info", "/login/companyinfo/acme",
        "/v2025_2/apis/3.0/system/info", "/v2025_2/apis/3.0/system/info",
      ], "\(seen)")
    #expect(connect.stdout.contains("v2025_2"))
  }
}
