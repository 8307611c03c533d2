import Foundation
import TestSupport
import Testing

/// `api` and `exec`: using a connection without seeing its secrets.
@Suite struct ApiEndToEndTests {
  static let environment: [String: String?] = [
    "CWM_PROFILE_PASSPHRASE": "e2e", "CWM_PROFILE_RETRY_DELAY": "0.05",
  ]
  static let ticketsPath = "/v2025_1/apis/3.0/service/tickets"

  func ready(_ config: StandInConfig = StandInConfig()) throws -> (StandInServer, CLIHarness) {
    let server = try StandInServer(config: config)
    let cli = try CLIHarness()
    try cli.add("acme", server: server, extra: Self.environment)
    return (server, cli)
  }

  func ids(_ text: String) throws -> [Int] {
    let array = try #require(
      try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
    return array.compactMap { $0["id"] as? Int }
  }

  @Test func aSingleRequestPrintsTheAnswer() throws {
    let (server, cli) = try ready()
    defer { withExtendedLifetime(server) {} }

    let result = try cli.run(["api", "acme", "system/info"], extra: Self.environment)

    #expect(result.status == 0, "\(result.summary)")
    #expect(result.stdout.contains("\"version\": \"v2025.1.99999\""))
  }

  @Test func queryValuesAreEncodedAsTheAPIExpects() throws {
    let (server, cli) = try ready()

    let result = try cli.run(
      ["api", "acme", "system/echo", "--query", "conditions=status/name=\"Open\" & id>5"],
      extra: Self.environment)

    #expect(result.status == 0, "\(result.summary)")
    let echo = try #require(try server.requests(matching: "/v2025_1/apis/3.0/system/echo").last)
    #expect(echo.query == "conditions=status%2Fname%3D%22Open%22%20%26%20id%3E5")
  }

  @Test func dataIsSentAsJSONFromTextFileOrStandardInput() throws {
    let (server, cli) = try ready()
    let file = cli.home.path + "/ticket.json"
    try Data(#"{"summary":"from a file"}"#.utf8).write(to: URL(fileURLWithPath: file))

    let inline = try cli.run(
      ["api", "acme", "service/tickets", "--data", #"{"summary":"inline ü"}"#],
      extra: Self.environment)
    let fromFile = try cli.run(
      ["api", "acme", "POST", "service/tickets", "--data", "@" + file], extra: Self.environment)
    let fromStdin = try cli.run(
      ["api", "acme", "service/tickets", "--data", "-"], stdin: #"{"summary":"piped"}"#,
      extra: Self.environment)

    for result in [inline, fromFile, fromStdin] {
      #expect(result.status == 0, "\(result.summary)")
    }
    let posts = try server.requests(matching: Self.ticketsPath).filter { $0.method == "POST" }
    #expect(
      posts.map(\.body) == [
        #"{"summary":"inline ü"}"#, #"{"summary":"from a file"}"#, #"{"summary":"piped"}"#,
      ])
    #expect(posts.allSatisfy { $0.header("Content-Type") == "application/json" })
  }

  @Test func allFollowsLinkPagingAndPrintsEveryItemOnce() throws {
    let (server, cli) = try ready()

    let result = try cli.run(
      ["api", "acme", "service/tickets", "--all", "--query", "pageSize=25"],
      extra: Self.environment)

    #expect(result.status == 0, "\(result.summary)")
    #expect(try ids(result.stdout) == Array(1...60))
    #expect(try server.requests(matching: Self.ticketsPath).count == 3)
  }

  @Test func allFollowsForwardOnlyPaging() throws {
    let (server, cli) = try ready()

    let result = try cli.run(
      ["api", "acme", "service/tickets", "--all", "--forward-only", "--query", "pageSize=20"],
      extra: Self.environment)

    #expect(result.status == 0, "\(result.summary)")
    #expect(try ids(result.stdout) == Array(1...60))
    let pages = try server.requests(matching: Self.ticketsPath)
    #expect(pages.allSatisfy { $0.header("pagination-type") == "forward-only" })
    #expect(pages.dropFirst().allSatisfy { $0.query.contains("pageId=") })
  }

  @Test func serverErrorsAndResetsAreRetriedAndShownWithVerbose() throws {
    var config = StandInConfig()
    config.failures = [
      Self.ticketsPath: [.status(503), .reset, .tooMany(retryAfter: "1")]
    ]
    let (server, cli) = try ready(config)

    let result = try cli.run(
      ["--verbose", "api", "acme", "service/tickets"], extra: Self.environment)

    #expect(result.status == 0, "\(result.summary)")
    #expect(try server.requests(matching: Self.ticketsPath).count == 4)
    let retries = result.stderr.split(separator: "\n").filter { $0.contains("retry") }
    #expect(retries.count == 3, "\(result.stderr)")
    #expect(retries.last?.contains("in 1 s after HTTP 429") == true)
    #expect(!result.stderr.contains("Basic "))
  }

  @Test func clientErrorsAndNonIdempotentFailuresAreNotRetried() throws {
    var config = StandInConfig()
    config.failures = [Self.ticketsPath: [.status(400), .status(500)]]
    let (server, cli) = try ready(config)

    let badRequest = try cli.run(["api", "acme", "service/tickets"], extra: Self.environment)
    let failedPost = try cli.run(
      ["api", "acme", "service/tickets", "--data", "{}"], extra: Self.environment)

    #expect(badRequest.status == 35, "\(badRequest.summary)")
    #expect(failedPost.status == 35, "\(failedPost.summary)")
    #expect(badRequest.stderrIsOneLine && failedPost.stderrIsOneLine)
    #expect(try server.requests(matching: Self.ticketsPath).count == 2)
  }

  @Test func retriesAreBounded() throws {
    var config = StandInConfig()
    config.failures = [Self.ticketsPath: Array(repeating: .status(503), count: 20)]
    let (server, cli) = try ready(config)

    let result = try cli.run(
      ["api", "acme", "service/tickets"],
      extra: Self.environment.merging(["CWM_PROFILE_RETRIES": "2"]) { $1 })

    #expect(result.status == 35, "\(result.summary)")
    #expect(result.stderr.contains("503"))
    #expect(try server.requests(matching: Self.ticketsPath).count == 3)
  }

  @Test func credentialsNeverFollowARedirectElsewhere() throws {
    var config = StandInConfig()
    config.redirects = [
      Self.ticketsPath: .init(to: "https://localhost:{port}/v2025_1/apis/3.0/system/echo"),
      "/v2025_1/apis/3.0/service/plain": .init(to: "http://127.0.0.1:{port}/x"),
    ]
    let (server, cli) = try ready(config)

    let otherHost = try cli.run(["api", "acme", "service/tickets"], extra: Self.environment)
    let plain = try cli.run(["api", "acme", "service/plain"], extra: Self.environment)

    #expect(otherHost.status == 44, "\(otherHost.summary)")
    #expect(plain.status == 44, "\(plain.summary)")
    #expect(try server.requests(matching: "/v2025_1/apis/3.0/system/echo").isEmpty)
    #expect(try server.requests(matching: "/x").isEmpty)
  }

  @Test func pathsThatLeaveTheBaseURLAreRefusedBeforeAnyRequest() throws {
    let (server, cli) = try ready()
    let base = "https://\(server.host)/v2025_1/apis/3.0"
    #expect(try cli.run(["connect", "acme"], extra: Self.environment).status == 0)
    try server.clearRequests()

    let results = try [
      "../../../login/companyinfo/acme", "%2e%2e/%2e%2e/%2e%2e/login/companyinfo/acme",
      "service\\..\\..\\..\\login", base + "/../../../login/companyinfo/acme",
      "https://example.invalid/x",
    ].map { try cli.run(["api", "acme", $0], extra: Self.environment) }

    for result in results {
      #expect(result.status == 2, "\(result.summary)")
      #expect(!result.stderr.contains("unusable profile"), "\(result.summary)")
      #expect(result.stdout.isEmpty)
    }
    #expect(results.last?.stderr.contains("must be under the base URL \(base)/") == true)
    #expect(try server.requests().isEmpty)
  }

  @Test func allStopsWithAnErrorAtANextLinkItCannotFollow() throws {
    let (server, cli) = try ready()
    let base = "https://\(server.host)/v2025_1/apis/3.0"
    #expect(try cli.run(["connect", "acme"], extra: Self.environment).status == 0)
    let links = [
      "<\(base)/../../../../login/companyinfo/acme>; rel=next",
      "<\(base)/service/tickets?page=2; rel=next",
      "<\(base)/service/tickets?page=2 x>; rel=next",
    ]

    for link in links {
      try server.reconfigure(
        StandInPatch(failures: [
          Self.ticketsPath: [.answer(status: 200, body: #"[{"id":1}]"#, headers: ["Link": link])]
        ]))
      try server.clearRequests()

      let result = try cli.run(
        ["api", "acme", "service/tickets", "--all"], extra: Self.environment)

      #expect(result.status == 31, "\(link)\n\(result.summary)")
      #expect(result.stdout.hasPrefix("[\n{\"id\":1}"), "\(result.summary)")
      #expect(result.stderrIsOneLine, "\(result.summary)")
      #expect(try server.requests().map(\.path) == [Self.ticketsPath])
    }
  }

  @Test func answersThatAreNotJSONAreErrors() throws {
    var config = StandInConfig()
    config.failures = [Self.ticketsPath: [.html(status: 200)]]
    let (server, cli) = try ready(config)
    defer { withExtendedLifetime(server) {} }

    let result = try cli.run(["api", "acme", "service/tickets"], extra: Self.environment)

    #expect(result.status == 31, "\(result.summary)")
    #expect(result.stdout.isEmpty)
    #expect(result.stderrIsOneLine)
  }

  @Test func errorsLeaveTheQueryOut() throws {
    let (server, cli) = try ready()
    defer { withExtendedLifetime(server) {} }

    let result = try cli.run(
      ["api", "acme", "service/tickets/999", "--query", "conditions=ssn=\"123-45-6789\""],
      extra: Self.environment)

    #expect(result.status == 34, "\(result.summary)")
    #expect(result.stderr.contains("/service/tickets/999?…"), "\(result.summary)")
    #expect(!result.stderr.contains("6789"))
  }

  @Test func anEditedCachedBaseURLIsNeitherUsedNorKept() throws {
    let (server, cli) = try ready()
    #expect(try cli.run(["connect", "acme"], extra: Self.environment).status == 0)
    let file = cli.home.path + "/cache/cwm-profile/connections/acme.json"
    let text = try String(contentsOfFile: file, encoding: .utf8)
    // The stand-in's certificate also names localhost: only the rule can stop it.
    let edited = text.replacingOccurrences(of: "127.0.0.1", with: "localhost")
    #expect(edited != text)
    try edited.write(toFile: file, atomically: true, encoding: .utf8)
    try server.clearRequests()

    let result = try cli.run(["api", "acme", "system/info"], extra: Self.environment)

    #expect(result.status == 0, "\(result.summary)")
    let hosts = try server.requests().compactMap { $0.header("Host") }
    #expect(!hosts.isEmpty)
    #expect(hosts.allSatisfy { $0 == server.host }, "\(hosts)")
    #expect(try String(contentsOfFile: file, encoding: .utf8).contains("127.0.0.1"))
  }

  @Test func verboseSaysWhenTheCachedConnectionIsUsed() throws {
    let (server, cli) = try ready()
    defer { withExtendedLifetime(server) {} }
    #expect(try cli.run(["connect", "acme"], extra: Self.environment).status == 0)

    let result = try cli.run(
      ["--verbose", "api", "acme", "system/info"], extra: Self.environment)

    #expect(result.status == 0, "\(result.summary)")
    let lines = result.stderr.split(separator: "\n").filter { $0.contains("cached connection") }
    #expect(lines.count == 1, "\(result.stderr)")
    #expect(lines.first?.contains("trusted until 20") == true, "\(result.stderr)")
    #expect(!result.stderr.contains("Basic "))
  }

  @Test func execPassesTheConnectionButNotThePassphrase() throws {
    let (server, cli) = try ready()

    let result = try cli.run(
      [
        "exec", "acme", "--", "sh", "-c",
        "echo \"$CWM_BASE_URL|$CWM_AUTHORIZATION|$CWM_CLIENT_ID|${CWM_PROFILE_PASSPHRASE-unset}\"; exit 7",
      ], extra: Self.environment)

    #expect(result.status == 7, "\(result.summary)")
    let fields = result.stdout.trimmingCharacters(in: .newlines).split(separator: "|").map(
      String.init)
    #expect(fields.count == 4)
    #expect(fields[0] == "https://\(server.host)/v2025_1/apis/3.0")
    #expect(fields[1] == "Basic " + Data("acme+PUB:PRIV".utf8).base64EncodedString())
    #expect(fields[2] == StandInConfig().clientId)
    #expect(fields[3] == "unset")
  }

  @Test func execHandsSignalsAndMissingCommandsBack() throws {
    let (server, cli) = try ready()
    defer { withExtendedLifetime(server) {} }
    cli.environment["CWM_PROFILE_PASSPHRASE"] = "e2e"

    let running = try RunningCLI(
      [
        "exec", "acme", "--", "sh", "-c",
        "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done",
      ], harness: cli)
    #expect(running.waitForOutput("ready"))
    kill(running.pid, SIGTERM)
    let status = running.wait()
    let missing = try cli.run(["exec", "acme", "--", "no-such-command-here"])
    let noSeparator = try cli.run(["exec", "acme", "true"])

    #expect(status == 42)
    #expect(running.output.contains("got-term"))
    #expect(missing.status == 127, "\(missing.summary)")
    #expect(noSeparator.status == 2, "\(noSeparator.summary)")
  }
}
