import Testing

@testable import CWMProfile

@Suite struct ServerAddressTests {
  @Test(arguments: [
    ("na.myconnectwise.net", "na.myconnectwise.net"),
    ("https://NA.MyConnectWise.net/", "na.myconnectwise.net"),
    ("https://cw.example.com/v4_6_release/apis/3.0?x=1#frag", "cw.example.com"),
    ("cw.example.com:8443", "cw.example.com:8443"),
    ("https://cw.example.com:443/", "cw.example.com"),
    ("http://cw.example.com", "cw.example.com"),
    ("  127.0.0.1:9000  ", "127.0.0.1:9000"),
    ("[::1]:8443", "[::1]:8443"),
    ("[2001:DB8::1]", "[2001:db8::1]"),
    ("https://[::ffff:127.0.0.1]:9000/x", "[::ffff:127.0.0.1]:9000"),
  ])
  func normalisesWhatUsersType(input: String, expected: String) throws {
    let address = try ServerAddress(parsing: input)

    #expect(address.description == expected)
    #expect(address.origin == "https://" + expected)
  }

  @Test(arguments: [
    "", "   ", "user@cw.example.com", "https://user:pw@cw.example.com/", "cw example.com",
    "cw.example.com:0", "cw.example.com:70000", "cw.example.com:http", "ftp://cw.example.com",
    "-bad.example.com", "cw..example.com", "[::1", "exa\u{7}mple.com",
    "ünïcode.example.com", "127.0.0.1:45919:1", "::::::", "[::::::::]:1", "::1",
    "2001:db8::1", "[1::2::3]", "[::1%eth0]", "[12345::1]", "[::1]x", "[cw.example.com]",
  ])
  func rejectsWhatIsNotAHost(input: String) {
    #expect(throws: ServerAddress.Invalid.self) { try ServerAddress(parsing: input) }
  }

  @Test func errorMessagesStayOnOneLine() {
    do {
      _ = try ServerAddress(parsing: "bad\nhost")
      Issue.record("expected an error")
    } catch {
      #expect(!error.description.contains("\n"))
    }
  }

  @Test func cloudWebHostMapsToItsAPIHost() throws {
    let web = try ServerAddress(parsing: "eu.myconnectwise.net")
    let api = try ServerAddress(parsing: "api-eu.myconnectwise.net")
    let onPremises = try ServerAddress(parsing: "cw.example.com")

    #expect(CloudHosts.apiHost(forWebHost: web) == api)
    #expect(CloudHosts.apiHost(forWebHost: api) == api)
    #expect(CloudHosts.apiHost(forWebHost: onPremises) == onPremises)
  }

  @Test func connectWiseDomainsAreRecognisedExactly() {
    #expect(CloudHosts.isConnectWise("api-na.myconnectwise.net"))
    #expect(CloudHosts.isConnectWise("staging.connectwisedev.com"))
    #expect(!CloudHosts.isConnectWise("myconnectwise.net.evil.example"))
    #expect(!CloudHosts.isConnectWise("evilmyconnectwise.net"))
  }

  @Test func apiVersionKeepsMajorAndMinor() {
    #expect(APIVersion("2025.1")?.description == "2025.1")
    #expect(APIVersion("v2025.1.99999")?.description == "2025.1")
    #expect(APIVersion("3.0.0")?.description == "3.0")
    #expect(APIVersion("2025") == nil)
    #expect(APIVersion("2025.x") == nil)
    #expect(APIVersion("") == nil)
  }

  @Test func codebaseLosesItsSlashes() {
    #expect(Codebase.normalise("v4_6_release/") == "v4_6_release")
    #expect(Codebase.normalise("/v2025_1/") == "v2025_1")
    #expect(Codebase.normalise("..") == nil)
    #expect(Codebase.normalise("a/b") == nil)
    #expect(Codebase.normalise("") == nil)
  }
}
