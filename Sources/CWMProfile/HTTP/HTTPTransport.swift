/// One HTTP header line.
public struct HTTPHeader: Sendable, Equatable {
  public var name: String
  public var value: String

  public init(_ name: String, _ value: String) {
    self.name = name
    self.value = value
  }
}

/// An HTTPS request. `url` is absolute and always `https`.
public struct HTTPRequest: Sendable {
  public var method: String
  public var url: String
  public var headers: [HTTPHeader]
  public var body: [UInt8]?

  public init(method: String = "GET", url: String, headers: [HTTPHeader] = [], body: [UInt8]? = nil)
  {
    self.method = method
    self.url = url
    self.headers = headers
    self.body = body
  }
}

/// The answer to an `HTTPRequest`, after any redirects that were followed.
public struct HTTPResponse: Sendable {
  public var status: Int
  public var headers: [HTTPHeader]
  public var body: [UInt8]
  /// The URL that produced this answer.
  public var url: String

  public init(status: Int, headers: [HTTPHeader], body: [UInt8], url: String) {
    self.status = status
    self.headers = headers
    self.body = body
    self.url = url
  }

  /// The first header named `name`, compared case-insensitively.
  public func header(_ name: String) -> String? {
    let wanted = name.lowercased()
    return headers.first { $0.name.lowercased() == wanted }?.value
  }
}

/// Settings for one transport.
public struct HTTPOptions: Sendable, Equatable {
  /// A PEM file of certificate authorities trusted instead of the system's,
  /// for on-premises servers with a private CA.
  public var caFile: String?
  /// Seconds allowed to establish the connection, TLS included.
  public var connectTimeout: Double
  /// Seconds allowed for the whole exchange.
  public var totalTimeout: Double
  /// How many same-origin redirects to follow before giving up.
  public var maxRedirects: Int

  public init(
    caFile: String? = nil, connectTimeout: Double = 10, totalTimeout: Double = 60,
    maxRedirects: Int = 5
  ) {
    self.caFile = caFile
    self.connectTimeout = connectTimeout
    self.totalTimeout = totalTimeout
    self.maxRedirects = maxRedirects
  }
}

/// Something that performs HTTPS exchanges. `CurlTransport` is the real
/// one; tests of the logic above may substitute their own.
public protocol HTTPTransport: Sendable {
  func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse
}

/// Why an exchange failed before an HTTP status came back.
public enum HTTPError: Error, Equatable, Sendable {
  /// The URL is not an absolute https URL with a valid host.
  case invalidURL(String)
  /// The host name does not resolve.
  case couldNotResolve(host: String)
  /// Nothing accepted the connection.
  case connectionRefused(host: String)
  /// The connection or the exchange took longer than allowed.
  case timedOut(host: String, seconds: Double)
  /// The TLS handshake failed, including an untrusted or mismatched certificate.
  case tlsFailure(host: String, detail: String)
  /// The CA file given to trust cannot be read.
  case caFileUnreadable(path: String)
  /// The server redirected somewhere credentials must not follow.
  case redirectRefused(from: String, to: String)
  /// More redirects than allowed.
  case tooManyRedirects(url: String)
  /// The connection broke mid-exchange (reset, closed early).
  case connectionLost(host: String, detail: String)
  /// Any other transport failure, with libcurl's message.
  case transport(detail: String)
}

extension HTTPError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .invalidURL(let url): return "not a valid https URL: \(url)"
    case .couldNotResolve(let host): return "cannot resolve host \(host)"
    case .connectionRefused(let host): return "connection refused by \(host)"
    case .timedOut(let host, let seconds):
      return "no answer from \(host) within \(formatSeconds(seconds))"
    case .tlsFailure(let host, let detail):
      return
        "TLS failure with \(host): \(detail) (a server with a private certificate authority "
        + "needs the profile's --ca-file)"
    case .caFileUnreadable(let path): return "cannot read CA file \(path)"
    case .redirectRefused(let from, let to):
      return "refused to follow a redirect from \(from) to \(to) with credentials"
    case .tooManyRedirects(let url): return "too many redirects, last at \(url)"
    case .connectionLost(let host, let detail): return "connection to \(host) lost: \(detail)"
    case .transport(let detail): return "network error: \(detail)"
    }
  }
}
