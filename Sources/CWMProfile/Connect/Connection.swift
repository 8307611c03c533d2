import Foundation

/// A ready connection to one company's Manage API: where to send calls and
/// what to send with them. `headers` carries the credentials, so treat a
/// connection as a secret.
public struct Connection: Sendable, Equatable {
  public var profile: String
  public var server: String
  public var company: String
  public var codebase: String
  /// `https://{api host}/{codebase}/apis/3.0`, without a trailing slash.
  public var baseURL: String
  public var method: AuthMethod
  /// The version sent in `Accept`: the pinned one or the one detected.
  public var apiVersion: String
  /// The headers for every call, in the order sent.
  public var headers: [HTTPHeader]
  /// Cookies for every call (cookie login only), in the order sent.
  public var cookies: [HTTPHeader]
  /// When the connection's credentials stop working, if they expire.
  public var expiration: Date?
  /// The server's own version string from `system/info`.
  public var serverVersion: String?
  /// Whether company info called the server a cloud site.
  public var isCloud: Bool?
  /// Whether this connection came from the cache rather than the server.
  public var fromCache: Bool = false
  /// For a connection from the cache: until when the cache trusts it.
  public var cachedUntil: Date?

  public init(
    profile: String, server: String, company: String, codebase: String, baseURL: String,
    method: AuthMethod, apiVersion: String, headers: [HTTPHeader], cookies: [HTTPHeader] = [],
    expiration: Date? = nil, serverVersion: String? = nil, isCloud: Bool? = nil
  ) {
    self.isCloud = isCloud
    self.profile = profile
    self.server = server
    self.company = company
    self.codebase = codebase
    self.baseURL = baseURL
    self.method = method
    self.apiVersion = apiVersion
    self.headers = headers
    self.cookies = cookies
    self.expiration = expiration
    self.serverVersion = serverVersion
  }

  /// The header named `name`, compared case-insensitively.
  public func header(_ name: String) -> String? {
    headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
  }

  /// The headers plus a `Cookie` header when there are cookies.
  public var requestHeaders: [HTTPHeader] {
    guard !cookies.isEmpty else { return headers }
    let cookie = cookies.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
    return headers + [HTTPHeader("Cookie", cookie)]
  }
}
