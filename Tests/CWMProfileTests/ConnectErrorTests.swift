import Testing

@testable import CWMProfile

@Suite struct ConnectErrorTests {
  @Test func urlsInErrorsLeaveTheQueryOut() {
    let url = "https://cw.example.com/v2025_1/apis/3.0/x?conditions=ssn%3D%22123-45-6789%22"
    let errors: [ConnectError] = [
      .notFound(url: url, message: nil),
      .unexpectedResponse(url: url, reason: "an HTML page"),
    ]

    for error in errors {
      #expect(!error.description.contains("ssn"), "\(error.description)")
      #expect(!error.description.contains("6789"), "\(error.description)")
      #expect(error.description.contains("/apis/3.0/x?…"), "\(error.description)")
    }
  }

  @Test func serverMessagesCannotReorderOrBreakTheLine() {
    let hostile = "ok\u{202E}gnp.exe\u{2066}x\u{2069}\u{85}\u{1B}[31m\r\nnext\u{2028}"
    let errors: [ConnectError] = [
      .authenticationFailed(code: "C", message: hostile),
      .forbidden(code: hostile, message: nil),
      .notFound(url: "https://h/x", message: hostile),
      .apiError(status: 500, code: nil, message: hostile),
    ]

    for error in errors {
      let scalars = error.description.unicodeScalars
      #expect(!scalars.contains { $0.properties.generalCategory == .control })
      #expect(!scalars.contains { (0x202A...0x202E).contains($0.value) })
      #expect(!scalars.contains { (0x2066...0x2069).contains($0.value) })
      #expect(!scalars.contains { $0.value == 0x2028 })
      #expect(error.description.contains("ok"))
    }
  }
}
