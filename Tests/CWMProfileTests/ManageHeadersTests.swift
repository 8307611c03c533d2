import Foundation
import Testing

@testable import CWMProfile

@Suite struct ManageHeadersTests {
  @Test func basicAuthorizationMatchesTheDocumentedExample() {
    let value = ManageHeaders.basicAuthorization(
      company: "acme", publicKey: "PUB123", privateKey: SecretBytes(utf8: "PRIV456"))

    #expect(value == "Basic YWNtZStQVUIxMjM6UFJJVjQ1Ng==")
  }

  @Test func basicAuthorizationEncodesUTF8NotASCII() throws {
    let value = ManageHeaders.basicAuthorization(
      company: "café", publicKey: "ключ", privateKey: SecretBytes(utf8: "pässwörd"))

    let encoded = try #require(value.split(separator: " ").last)
    let decoded = try #require(Data(base64Encoded: String(encoded)))
    #expect(String(decoding: decoded, as: UTF8.self) == "café+ключ:pässwörd")
    #expect(!decoded.contains(UInt8(ascii: "?")))
  }

  @Test func acceptPutsTheVendorTypeFirst() {
    #expect(
      ManageHeaders.accept(version: APIVersion("2025.1"))
        == "application/vnd.connectwise.com+json; version=2025.1")
    #expect(ManageHeaders.accept(version: nil) == "application/vnd.connectwise.com+json")
  }

  @Test func apiKeyHeadersCarryClientIdAndNoCache() {
    let headers = ManageHeaders.apiKey(
      authorization: "Basic x", clientId: "cid", version: APIVersion("2024.1"))

    #expect(headers.map(\.name) == ["Authorization", "clientId", "Accept", "Cache-Control"])
    #expect(headers[1].value == "cid")
    #expect(headers[3].value == "no-cache")
  }
}
