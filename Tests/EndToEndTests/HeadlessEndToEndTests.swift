import Foundation
import TestSupport
import Testing

/// The built command against the stand-in server over real TLS, with no
/// session bus at all: secrets go to the encrypted file, given on pipes.
@Suite struct HeadlessEndToEndTests {
  static let passphrase = ["CWM_PROFILE_PASSPHRASE": "e2e passphrase" as String?]

  @Test func addThenConnectInEveryFormat() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()

    let added = try cli.add("acme", server: server, extra: Self.passphrase)
    #expect(added.status == 0, "\(added.summary)")
    #expect(added.stderr.contains("no D-Bus session bus"))
    #expect(fileMode(cli.secretsFile) == 0o600)
    #expect(fileMode((cli.secretsFile as NSString).deletingLastPathComponent) == 0o700)

    let summary = try cli.run(["connect", "acme"], extra: Self.passphrase)
    #expect(summary.status == 0, "\(summary.summary)")
    #expect(summary.stdout.contains("https://\(server.host)/v2025_1/apis/3.0"))
    #expect(summary.stdout.contains("2025.1"))
    #expect(!summary.stdout.contains("PRIV") && !summary.stdout.contains("Basic"))

    let json = try cli.run(["connect", "acme", "--format", "json"], extra: Self.passphrase)
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    #expect(
      Set(object.keys) == [
        "profile", "server", "company", "codebase", "baseUrl", "method", "apiVersion", "headers",
        "cookies", "expiration",
      ])
    let headers = try #require(object["headers"] as? [String: String])
    #expect(headers["Authorization"] == "Basic " + Data("acme+PUB:PRIV".utf8).base64EncodedString())
    #expect(headers["clientId"] == StandInConfig().clientId)
    #expect(headers["Accept"] == "application/vnd.connectwise.com+json; version=2025.1")
    #expect(object["codebase"] as? String == "v2025_1")
    #expect(object["method"] as? String == "api-key")

    let env = try cli.run(["connect", "acme", "--format", "env"], extra: Self.passphrase)
    #expect(env.stdout.contains("export CWM_BASE_URL='https://\(server.host)/v2025_1/apis/3.0'\n"))
    #expect(env.stdout.contains("export CWM_AUTHORIZATION='Basic "))

    let header = try cli.run(["connect", "acme", "--format", "header"], extra: Self.passphrase)
    #expect(header.stdout.hasPrefix("Authorization: Basic "))
    #expect(header.stdout.contains("\nclientId: \(StandInConfig().clientId)\n"))
  }

  @Test func theServerSeesExactlyTheDocumentedRequests() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, privateKey: "PRIV", extra: Self.passphrase)

    let result = try cli.run(["connect", "acme"], extra: Self.passphrase)

    #expect(result.status == 0, "\(result.summary)")
    let requests = try server.requests()
    #expect(requests.map(\.path) == ["/login/companyinfo/acme", "/v2025_1/apis/3.0/system/info"])
    #expect(requests[0].header("Authorization") == nil)
    let probe = requests[1]
    #expect(
      probe.header("Authorization") == "Basic " + Data("acme+PUB:PRIV".utf8).base64EncodedString())
    #expect(probe.header("clientId") == StandInConfig().clientId)
    #expect(probe.header("Accept") == "application/vnd.connectwise.com+json")
    #expect(probe.header("Cache-Control") == "no-cache")
  }

  @Test func aPinnedOrOverriddenVersionIsSent() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, more: ["--api-version", "2024.1"], extra: Self.passphrase)

    let pinned = try cli.run(["connect", "acme", "--format", "json"], extra: Self.passphrase)
    let overridden = try cli.run(
      ["connect", "acme", "--api-version", "2023.2", "--format", "json"], extra: Self.passphrase)

    #expect(pinned.stdout.contains("\"apiVersion\" : \"2024.1\""), "\(pinned.summary)")
    #expect(overridden.stdout.contains("\"apiVersion\" : \"2023.2\""), "\(overridden.summary)")
    let accepts = try server.requests().filter { $0.path.hasSuffix("system/info") }.map {
      $0.header("Accept") ?? ""
    }
    #expect(accepts.map { $0.hasSuffix("version=2024.1") } == [true, false])
    #expect(accepts.last?.hasSuffix("version=2023.2") == true)
  }

  @Test func listShowAndRemoveLeaveNoSecretBehind() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, extra: Self.passphrase)
    try cli.add("beta", server: server, extra: Self.passphrase)

    let list = try cli.run(["list"])
    let show = try cli.run(["show", "acme", "--format", "json"])
    let removed = try cli.run(["remove", "acme"], extra: Self.passphrase)
    let after = try cli.run(["connect", "acme"], extra: Self.passphrase)
    let again = try cli.run(["remove", "acme"], extra: Self.passphrase)

    #expect(list.stdout.contains("acme") && list.stdout.contains("beta"))
    #expect(show.stdout.contains("\"store\" : \"file\""))
    #expect(!show.stdout.contains("PRIV"))
    #expect(removed.status == 0, "\(removed.summary)")
    #expect(after.status == 3)
    #expect(again.status == 3)
    #expect(Set(try cli.storedProfiles().keys) == ["beta"])
    let beta = try cli.run(["connect", "beta"], extra: Self.passphrase)
    #expect(beta.status == 0, "\(beta.summary)")
  }

  @Test func addNeverReplacesAProfile() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, extra: Self.passphrase)
    let before = try Data(contentsOf: URL(fileURLWithPath: cli.profilesFile))
    let secretsBefore = try Data(contentsOf: URL(fileURLWithPath: cli.secretsFile))

    let again = try cli.add("acme", server: server, privateKey: "OTHER", extra: Self.passphrase)

    #expect(again.status == 4)
    #expect(again.stderrIsOneLine)
    #expect(try Data(contentsOf: URL(fileURLWithPath: cli.profilesFile)) == before)
    #expect(try Data(contentsOf: URL(fileURLWithPath: cli.secretsFile)) == secretsBefore)
  }

  @Test func noPassphraseAndNoTerminalFailsAtOnce() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()

    let result = try cli.add("acme", server: server)

    #expect(result.status == 10, "\(result.summary)")
    #expect(result.stderr.contains("CWM_PROFILE_PASSPHRASE"))
    #expect(result.elapsed < 10)
    #expect(try cli.storedProfiles().isEmpty)
  }

  @Test func aWrongPassphraseChangesNothing() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, extra: Self.passphrase)
    let before = try Data(contentsOf: URL(fileURLWithPath: cli.secretsFile))
    let wrong = ["CWM_PROFILE_PASSPHRASE": "not it" as String?]

    let add = try cli.add("beta", server: server, extra: wrong)
    let connect = try cli.run(["connect", "acme"], extra: wrong)
    let remove = try cli.run(["remove", "acme"], extra: wrong)

    for result in [add, connect, remove] {
      #expect(result.status == 12, "\(result.summary)")
      #expect(result.stderr.contains("wrong passphrase"))
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: cli.secretsFile)) == before)
    #expect(Set(try cli.storedProfiles().keys) == ["acme"])
  }

  @Test func serverAnswersBecomeOneLineErrorsWithTheirOwnCodes() throws {
    let config = StandInConfig(credentials: [
      .init(company: "acme", publicKey: "PUB", privateKey: "PRIV"),
      .init(company: "acme", publicKey: "RO", privateKey: "RO-PRIV", forbidden: true),
    ])
    let server = try StandInServer(config: config)
    let cli = try CLIHarness()
    try cli.add("unknown", server: server, company: "nosuchco", extra: Self.passphrase)
    try cli.add("html", server: server, company: "htmlco", extra: Self.passphrase)
    try cli.add("badkey", server: server, privateKey: "WRONG-SECRET-123", extra: Self.passphrase)
    try cli.add(
      "forbidden", server: server, publicKey: "RO", privateKey: "RO-PRIV", extra: Self.passphrase)
    try cli.add("badclient", server: server, clientId: "wrong-client", extra: Self.passphrase)

    let cases: [(String, Int32, String)] = [
      ("unknown", 30, "not known"), ("html", 31, "HTML"), ("badkey", 32, "UserNotAuthenticated"),
      ("forbidden", 33, "security permission"), ("badclient", 32, "client ID"),
    ]
    for (name, status, text) in cases {
      let result = try cli.run(["connect", name], extra: Self.passphrase)
      #expect(result.status == status, "\(name): \(result.summary)")
      #expect(result.stderr.contains(text), "\(name): \(result.summary)")
      #expect(result.stderrIsOneLine, "\(name): \(result.summary)")
      #expect(result.stdout.isEmpty)
      #expect(!result.stderr.contains("WRONG-SECRET-123") && !result.stderr.contains("Basic "))
    }
  }

  @Test func networkFailuresHaveTheirOwnCodes() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, extra: Self.passphrase)
    let port = server.port
    server.stop()
    let refused = try cli.run(["connect", "acme"], extra: Self.passphrase)

    let live = try StandInServer()
    try cli.run(
      [
        "add", "tls", "--server", live.host, "--company", "acme", "--client-id", "c",
        "--public-key", "PUB",
      ], stdin: "PRIV\n", extra: Self.passphrase)
    let tls = try cli.run(["connect", "tls"], extra: Self.passphrase)

    #expect(refused.status == 41, "\(refused.summary)")
    #expect(refused.stderr.contains("127.0.0.1:\(port)"))
    #expect(tls.status == 43, "\(tls.summary)")
    #expect(tls.stderrIsOneLine)
    #expect(try live.requests().isEmpty)
  }

  @Test func verboseIsAcceptedAfterTheCommandToo() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()
    try cli.add("acme", server: server, extra: Self.passphrase)

    let after = try cli.run(["connect", "acme", "--force", "--verbose"], extra: Self.passphrase)

    #expect(after.status == 0, "\(after.summary)")
    #expect(after.stderr.contains("system/info"), "\(after.summary)")
  }

  @Test func badInputIsRefusedWithUsageCodes() throws {
    let cli = try CLIHarness()
    let full = [
      "--server", "h.example.com", "--company", "c", "--client-id", "i", "--public-key", "p",
    ]

    let cases: [([String], Int32)] = [
      (["frobnicate"], 2), (["add"], 2), (["add", "x", "--server"], 2),
      (["add", "x", "--company", "c"], 2), (["add", "x", "--bogus", "1"], 2),
      (["add", "x", "--private-key", "SECRET"] + full, 2),
      (["add", "bad/name"] + full, 5),
      (
        [
          "add", "x", "--server", "a b", "--company", "c",
          "--client-id", "i", "--public-key", "p",
        ], 5
      ),
      (["add", "x", "--server", "127.0.0.1:45919:1"] + full.dropFirst(2), 5),
      (["add", "x", "--server", "::::::"] + full.dropFirst(2), 5),
      (["add", "x", "--server", "[::::::::]:1"] + full.dropFirst(2), 5),
      (["add", "x", "--store", "cloud"] + full, 2), (["connect"], 2),
      (["connect", "nope"], 3), (["show", "nope"], 3), (["remove", "nope"], 3),
      (["connect", "x", "--format", "xml"], 2), (["--bogus"], 2),
      (["add", "x", "--server", "--company", "c"], 2), (["exec", "x", "sh", "-c", "true"], 2),
      (["help", "nosuch"], 2), (["--version", "extra"], 2),
      (["add", "x", "--ca-file", "/nonexistent/ca.pem"] + full, 46),
    ]
    for (arguments, status) in cases {
      let result = try cli.run(arguments, stdin: "SECRET\n")
      #expect(result.status == status, "\(arguments): \(result.summary)")
      #expect(!result.stderr.isEmpty && result.stdout.isEmpty, "\(arguments)")
    }
    let forgotten = try cli.run(["add", "x", "--server", "--company", "c"])
    let noTerminator = try cli.run(["exec", "x", "sh", "-c", "true"])
    #expect(forgotten.stderr.contains("option '--server' needs a value"))
    #expect(noTerminator.stderr.contains("put '--' between"))
    #expect(try cli.storedProfiles().isEmpty)
    #expect(!FileManager.default.fileExists(atPath: cli.secretsFile))
  }

  @Test func anEmptyPrivateKeyIsRefused() throws {
    let server = try StandInServer()
    let cli = try CLIHarness()

    let result = try cli.add("acme", server: server, privateKey: "", extra: Self.passphrase)

    #expect(result.status == 5, "\(result.summary)")
    #expect(try cli.storedProfiles().isEmpty)
  }

  @Test func helpExistsForTheToolAndEveryCommand() throws {
    let cli = try CLIHarness()

    for command in ["add", "connect", "list", "show", "remove"] {
      let result = try cli.run([command, "--help"])
      #expect(result.status == 0)
      #expect(result.stdout.hasPrefix("Usage: cwm-profile \(command)"), "\(command)")
    }
    let overview = try cli.run(["--help"])
    #expect(overview.stdout.contains("connect NAME"))
  }
}

/// The permission bits of `path`.
func fileMode(_ path: String) -> Int? {
  guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
  return (attributes[.posixPermissions] as? NSNumber)?.intValue
}
