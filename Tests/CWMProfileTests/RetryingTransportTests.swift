import Foundation
import Testing

@testable import CWMProfile

/// Answers from a list, one per request, recording what was asked.
final class SequenceTransport: HTTPTransport, @unchecked Sendable {
  private let lock = NSLock()
  private var steps: [Result<HTTPResponse, HTTPError>]
  private(set) var calls = 0

  init(_ steps: [Result<HTTPResponse, HTTPError>]) { self.steps = steps }

  func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
    let step = lock.withLock {
      calls += 1
      return steps.isEmpty ? answer(200) : steps.removeFirst()
    }
    return try step.get()
  }
}

/// A scripted answer with `code` as its status.
func answer(_ code: Int, headers: [HTTPHeader] = []) -> Result<HTTPResponse, HTTPError> {
  .success(HTTPResponse(status: code, headers: headers, body: [], url: "https://h/x"))
}

/// Records the waits instead of sleeping.
final class WaitRecorder: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var waits: [Double] = []
  func record(_ seconds: Double) { lock.withLock { waits.append(seconds) } }
}

@Suite struct RetryingTransportTests {
  func transport(_ base: SequenceTransport, _ waits: WaitRecorder, policy: RetryPolicy = .init())
    -> RetryingTransport
  {
    RetryingTransport(base, policy: policy, sleep: { waits.record($0) })
  }

  @Test func serverErrorsBackOffExponentiallyThenSucceed() throws {
    let base = SequenceTransport([answer(503), answer(500), answer(502)])
    let waits = WaitRecorder()

    let response = try transport(base, waits).send(HTTPRequest(url: "https://h/x"))

    #expect(response.status == 200)
    #expect(base.calls == 4)
    #expect(waits.waits == [1, 2, 4])
  }

  @Test func backoffIsCappedAndAttemptsAreBounded() throws {
    let base = SequenceTransport(Array(repeating: answer(503), count: 10))
    let waits = WaitRecorder()
    let policy = RetryPolicy(maxAttempts: 6, baseDelay: 3, maxDelay: 10, totalWait: 1000)

    let response = try transport(base, waits, policy: policy).send(HTTPRequest(url: "https://h/x"))

    #expect(response.status == 503)
    #expect(base.calls == 6)
    #expect(waits.waits == [3, 6, 10, 10, 10])
  }

  @Test func tooManyRequestsHonoursRetryAfter() throws {
    let base = SequenceTransport([answer(429, headers: [HTTPHeader("Retry-After", "7")])])
    let waits = WaitRecorder()

    let response = try transport(base, waits).send(HTTPRequest(method: "POST", url: "https://h/x"))

    #expect(response.status == 200)
    #expect(waits.waits == [7])
  }

  @Test func aRetryAfterBeyondTheLimitIsNotWaitedFor() throws {
    let base = SequenceTransport([answer(429, headers: [HTTPHeader("Retry-After", "3600")])])
    let waits = WaitRecorder()

    let response = try transport(base, waits).send(HTTPRequest(url: "https://h/x"))

    #expect(response.status == 429)
    #expect(waits.waits.isEmpty)
  }

  @Test func otherClientErrorsAreNeverRetried() throws {
    for status in [400, 401, 403, 404, 409, 422] {
      let base = SequenceTransport([answer(status)])
      let waits = WaitRecorder()

      let response = try transport(base, waits).send(HTTPRequest(url: "https://h/x"))

      #expect(response.status == status)
      #expect(base.calls == 1)
    }
  }

  @Test func postIsNotRepeatedAfterAServerError() throws {
    let base = SequenceTransport([answer(500)])
    let waits = WaitRecorder()

    let response = try transport(base, waits).send(HTTPRequest(method: "POST", url: "https://h/x"))

    #expect(response.status == 500)
    #expect(base.calls == 1)
  }

  @Test func aResetConnectionIsRetriedButARefusedOneIsNot() throws {
    let reset = SequenceTransport([.failure(.connectionLost(host: "h", detail: "reset"))])
    let refused = SequenceTransport([.failure(.connectionRefused(host: "h"))])
    let waits = WaitRecorder()

    let response = try transport(reset, waits).send(HTTPRequest(url: "https://h/x"))

    #expect(response.status == 200)
    #expect(throws: HTTPError.connectionRefused(host: "h")) {
      try transport(refused, waits).send(HTTPRequest(url: "https://h/x"))
    }
    #expect(refused.calls == 1)
  }

  @Test func theTotalWaitIsBounded() throws {
    let base = SequenceTransport(Array(repeating: answer(503), count: 10))
    let waits = WaitRecorder()
    let policy = RetryPolicy(maxAttempts: 10, baseDelay: 4, maxDelay: 10, totalWait: 15)

    _ = try transport(base, waits, policy: policy).send(HTTPRequest(url: "https://h/x"))

    #expect(waits.waits == [4, 8])
    #expect(waits.waits.reduce(0, +) <= 15)
  }

  @Test func retryAfterAcceptsAnHTTPDate() throws {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
    let date = formatter.string(from: Date().addingTimeInterval(30))

    let seconds = try #require(RetryingTransport.retryAfterSeconds(date))

    #expect(seconds > 25 && seconds <= 30)
    #expect(RetryingTransport.retryAfterSeconds("soon") == nil)
  }

  @Test func retryAfterIsDecimalSecondsOrAnHTTPDate() throws {
    #expect(RetryingTransport.retryAfterSeconds("16") == 16)
    #expect(RetryingTransport.retryAfterSeconds(" 0 ") == 0)
    for text in ["0x10", "1.5", "1e1", "+3", "-1", "inf", "nan", "", "１６"] {
      #expect(RetryingTransport.retryAfterSeconds(text) == nil, "\(text)")
    }
    let base = SequenceTransport([answer(429, headers: [HTTPHeader("Retry-After", "0x10")])])
    let waits = WaitRecorder()

    _ = try transport(base, waits).send(HTTPRequest(url: "https://h/x"))

    #expect(waits.waits == [1])
  }
}
