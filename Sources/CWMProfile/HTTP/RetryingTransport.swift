import Foundation

/// When and how long to retry. Only what can safely be sent again is:
/// a 429 always (the server did nothing), a 5xx or a broken connection
/// only for methods that change nothing when repeated. Other 4xx answers
/// are never retried.
public struct RetryPolicy: Sendable, Equatable {
  /// Attempts in all, the first included.
  public var maxAttempts: Int
  /// The wait before the first retry; each later one doubles it.
  public var baseDelay: Double
  /// The longest wait between two attempts.
  public var maxDelay: Double
  /// The longest `Retry-After` honoured; a server asking more is not retried.
  public var maxRetryAfter: Double
  /// The most time spent waiting across all retries of one request.
  public var totalWait: Double

  public init(
    maxAttempts: Int = 4, baseDelay: Double = 1, maxDelay: Double = 10,
    maxRetryAfter: Double = 60, totalWait: Double = 90
  ) {
    self.maxAttempts = maxAttempts
    self.baseDelay = baseDelay
    self.maxDelay = maxDelay
    self.maxRetryAfter = maxRetryAfter
    self.totalWait = totalWait
  }

  /// No retries at all.
  public static let never = RetryPolicy(maxAttempts: 1)

  /// The backoff before retry number `retry` (1 for the first).
  func backoff(_ retry: Int) -> Double {
    min(maxDelay, baseDelay * pow(2, Double(retry - 1)))
  }
}

/// Wraps a transport and retries by a `RetryPolicy`, logging each retry at
/// debug level (what `--verbose` shows).
public struct RetryingTransport: HTTPTransport {
  private let base: HTTPTransport
  private let policy: RetryPolicy
  private let logger: Logger
  private let sleep: @Sendable (Double) -> Void

  /// - Parameter sleep: waits the given seconds; tests may substitute it.
  public init(
    _ base: HTTPTransport, policy: RetryPolicy = RetryPolicy(), logger: Logger = .silent,
    sleep: @escaping @Sendable (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }
  ) {
    self.base = base
    self.policy = policy
    self.logger = logger
    self.sleep = sleep
  }

  public func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
    var waited = 0.0
    var attempt = 1
    while true {
      let outcome: Result<HTTPResponse, HTTPError>
      do {
        outcome = .success(try base.send(request))
      } catch {
        outcome = .failure(error)
      }
      guard attempt < policy.maxAttempts,
        let (delay, reason) = retryDelay(request, outcome, attempt),
        waited + delay <= policy.totalWait
      else { return try outcome.get() }
      logger.debug(
        "retry \(attempt)/\(policy.maxAttempts - 1) of \(request.method) \(redacted(request.url)) "
          + "in \(formatSeconds(delay)) after \(reason)")
      sleep(delay)
      waited += delay
      attempt += 1
    }
  }

  /// The wait before retrying, and why; nil when the outcome is final.
  private func retryDelay(
    _ request: HTTPRequest, _ outcome: Result<HTTPResponse, HTTPError>, _ attempt: Int
  ) -> (Double, String)? {
    switch outcome {
    case .success(let response) where response.status == 429:
      let asked = response.header("Retry-After").flatMap(Self.retryAfterSeconds)
      if let asked, asked > policy.maxRetryAfter { return nil }
      return (asked ?? policy.backoff(attempt), "HTTP 429")
    case .success(let response) where (500...599).contains(response.status):
      guard request.isIdempotent else { return nil }
      return (policy.backoff(attempt), "HTTP \(response.status)")
    case .failure(.connectionLost(_, let detail)):
      guard request.isIdempotent else { return nil }
      return (policy.backoff(attempt), "a broken connection (\(detail))")
    default:
      return nil
    }
  }

  /// `Retry-After` as seconds: decimal digits (delay-seconds), or an HTTP
  /// date. Anything else (`0x10`, `1e3`, `1.5`) is no answer at all.
  static func retryAfterSeconds(_ value: String) -> Double? {
    let text = value.trimmingWhitespace()
    if !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
      return Double(text)
    }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    guard let date = formatter.date(from: text) else { return nil }
    return max(0, date.timeIntervalSinceNow)
  }
}

extension HTTPRequest {
  /// Whether sending the request twice has the same effect as once.
  public var isIdempotent: Bool {
    ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method.uppercased())
  }
}

/// A URL without its query, which may hold search terms not meant for logs.
func redacted(_ url: String) -> String {
  String(url.prefix { $0 != "?" && $0 != "#" })
}
