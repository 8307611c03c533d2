import Foundation

/// Turns a profile and its secret into a validated `Connection`, the way
/// ConnectWise's own PowerShell `Connect-CWM` does on the wire: company
/// info for the codebase, the authentication headers, then `system/info`
/// to prove they work and to learn the server's version.
public struct ConnectEngine: Sendable {
  /// The path under the codebase where the REST API lives.
  public static let apiPath = "apis/3.0"

  private let transportFactory: @Sendable (Profile) -> HTTPTransport
  let logger: Logger

  /// - Parameter transport: makes the transport for a profile (its CA file
  ///   matters); the default uses libcurl.
  public init(
    logger: Logger = .silent,
    transport: (@Sendable (Profile) -> HTTPTransport)? = nil
  ) {
    self.logger = logger
    self.transportFactory =
      transport ?? { profile in
        CurlTransport(options: HTTPOptions(caFile: profile.caFile), logger: logger)
      }
  }

  /// What one call may change about the profile.
  public struct Options: Sendable {
    /// Use this API version instead of the profile's pin or the server's.
    public var apiVersion: String?

    public init(apiVersion: String? = nil) {
      self.apiVersion = apiVersion
    }
  }

  /// Connects `profile`, reading its secret from `secrets`.
  public func connect(
    _ profile: Profile, secrets: SecretStore, options: Options = Options()
  ) throws(ConnectError) -> Connection {
    let secret: SecretBytes?
    do {
      secret = try secrets.read(profile.primarySecret)
    } catch let error as SecretStoreError {
      throw .store(error)
    } catch {
      throw .store(.keyringFailed(detail: "\(error)"))
    }
    guard let secret else {
      throw .secretMissing(
        profile: profile.name, kind: profile.primarySecret.kind, store: secrets.kind)
    }
    return try connect(profile, secret: secret, options: options)
  }

  /// Connects `profile` with its primary secret (the private key, or the
  /// password for cookie login): company info, then the method's own
  /// authentication, then `system/info`.
  public func connect(
    _ profile: Profile, secret: SecretBytes, options: Options = Options()
  ) throws(ConnectError) -> Connection {
    let server = try Self.server(profile)
    let pinned = try Self.pinnedVersion(profile, options)
    let transport = transportFactory(profile)
    let info = try companyInfo(company: profile.company, server: server, transport: transport)
    guard let codebase = Codebase.normalise(profile.codebase ?? info.codebase) else {
      throw .unexpectedResponse(
        url: companyInfoURL(server, profile.company),
        reason: "unusable codebase '\(printable(info.codebase))'")
    }
    let apiHost = self.apiHost(server: server, siteURL: info.siteURL)
    let baseURL = "\(apiHost.origin)/\(codebase)/\(Self.apiPath)"

    var connection = Connection(
      profile: profile.name, server: server.description, company: profile.company,
      codebase: codebase, baseURL: baseURL, method: profile.method, apiVersion: "",
      headers: [], isCloud: info.isCloud)
    switch profile.method {
    case .apiKey:
      connection.headers = Self.credentialHeaders(
        authorization: ManageHeaders.basicAuthorization(
          company: profile.company, publicKey: profile.publicKey ?? "", privateKey: secret),
        profile: profile, version: pinned)
    case .impersonation:
      let token = try requestToken(profile, secret: secret, baseURL: baseURL, transport: transport)
      connection.headers = Self.credentialHeaders(
        authorization: token.authorization, profile: profile, version: pinned)
      connection.expiration = token.expiration
    case .cookie:
      let hash = try login(
        profile, password: secret, origin: server.origin, codebase: codebase, transport: transport)
      connection.headers = Self.credentialHeaders(
        authorization: nil, profile: profile, version: pinned)
      connection.cookies = [
        HTTPHeader("companyName", profile.company), HTTPHeader("memberHash", hash),
        HTTPHeader("MemberID", profile.username ?? ""), HTTPHeader("MemberContext", "web"),
      ]
    }

    let system = try systemInfo(
      baseURL: baseURL, headers: connection.requestHeaders, transport: transport)
    guard let version = pinned ?? system.version else {
      throw .unexpectedResponse(
        url: baseURL + "/system/info",
        reason: "no version in the answer; pin one with --api-version")
    }
    connection.apiVersion = version.description
    connection.serverVersion = system.serverVersion
    connection.headers = connection.headers.map {
      $0.name == "Accept" ? HTTPHeader("Accept", ManageHeaders.accept(version: version)) : $0
    }
    logger.debug(
      "connected \(profile.name) (\(profile.method.rawValue)): codebase \(codebase), "
        + "API version \(version)")
    return connection
  }

  /// A fresh impersonation token for a connection whose codebase is
  /// already known, without company info or validation.
  public func refreshToken(
    _ connection: Connection, profile: Profile, secret: SecretBytes
  ) throws(ConnectError) -> Connection {
    let token = try requestToken(
      profile, secret: secret, baseURL: connection.baseURL, transport: transportFactory(profile))
    var refreshed = connection
    refreshed.headers = connection.headers.map {
      $0.name == "Authorization" ? HTTPHeader("Authorization", token.authorization) : $0
    }
    refreshed.expiration = token.expiration
    return refreshed
  }

  /// The transport for `profile`, with its CA file; for callers that make
  /// API requests with a connection.
  public func transport(for profile: Profile) -> HTTPTransport {
    transportFactory(profile)
  }

  static func server(_ profile: Profile) throws(ConnectError) -> ServerAddress {
    do {
      return try ServerAddress(parsing: profile.server)
    } catch {
      throw .invalidProfile(reason: error.description)
    }
  }

  static func pinnedVersion(_ profile: Profile, _ options: Options) throws(ConnectError)
    -> APIVersion?
  {
    guard let text = options.apiVersion ?? profile.apiVersion else { return nil }
    guard let version = APIVersion(text) else {
      throw .invalidProfile(reason: "'\(printable(text))' is not an API version such as 2025.1")
    }
    return version
  }

  /// The headers of every call; `Authorization` is left out for cookie login.
  static func credentialHeaders(authorization: String?, profile: Profile, version: APIVersion?)
    -> [HTTPHeader]
  {
    let headers = ManageHeaders.apiKey(
      authorization: authorization ?? "", clientId: profile.clientId, version: version)
    return authorization == nil ? headers.filter { $0.name != "Authorization" } : headers
  }

  /// The host API calls go to: company info's `SiteUrl` when it is one of
  /// ConnectWise's own hosts or the server itself, since credentials must
  /// never go to a host a response chose freely; otherwise the server (or
  /// its `api-` twin for a cloud web host).
  func apiHost(server: ServerAddress, siteURL: String?) -> ServerAddress {
    if let siteURL, !siteURL.isEmpty {
      if let site = try? ServerAddress(parsing: siteURL), Self.mayUseSite(site, server: server) {
        return site
      }
      logger.debug("ignoring SiteUrl '\(printable(siteURL))': not a ConnectWise host")
    }
    return CloudHosts.apiHost(forWebHost: server)
  }

  /// Whether `site` may receive a profile's credentials: the server
  /// itself, or one of ConnectWise's own hosts.
  static func mayUseSite(_ site: ServerAddress, server: ServerAddress) -> Bool {
    site == server || CloudHosts.isConnectWise(site.host)
  }

  /// Whether `host` is one `connect` could have chosen for the API of
  /// `server`: by `apiHost`'s rule, or the server's `api-` twin.
  static func mayBeAPIHost(_ host: ServerAddress, server: ServerAddress) -> Bool {
    mayUseSite(host, server: server) || host == CloudHosts.apiHost(forWebHost: server)
  }

  struct CompanyInfo {
    var codebase: String
    var siteURL: String?
    var isCloud: Bool?
  }

  private func companyInfoURL(_ server: ServerAddress, _ company: String) -> String {
    let escaped =
      company.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"]))
      ?? company
    return "\(server.origin)/login/companyinfo/\(escaped)"
  }

  func companyInfo(company: String, server: ServerAddress, transport: HTTPTransport)
    throws(ConnectError) -> CompanyInfo
  {
    let url = companyInfoURL(server, company)
    let response = try send(
      HTTPRequest(url: url, headers: [HTTPHeader("Accept", "application/json")]),
      transport: transport)
    guard response.status == 200 else { throw Self.statusError(response) }
    let json = try Self.jsonObject(response, allowNull: true)
    guard let object = json else {
      throw .unknownCompany(company: company, server: server.description)
    }
    guard let codebase = object["Codebase"] as? String else {
      throw .unexpectedResponse(url: url, reason: "company info without a Codebase")
    }
    return CompanyInfo(
      codebase: codebase, siteURL: object["SiteUrl"] as? String,
      isCloud: object["IsCloud"] as? Bool)
  }

  struct SystemInfo {
    var version: APIVersion?
    var serverVersion: String?
  }

  func systemInfo(baseURL: String, headers: [HTTPHeader], transport: HTTPTransport)
    throws(ConnectError) -> SystemInfo
  {
    let response = try send(
      HTTPRequest(url: baseURL + "/system/info", headers: headers), transport: transport)
    guard response.status == 200 else { throw Self.statusError(response) }
    guard let object = try Self.jsonObject(response, allowNull: false) else {
      throw .unexpectedResponse(url: response.url, reason: "empty answer")
    }
    let serverVersion = object["version"] as? String
    let detected =
      serverVersion.flatMap(APIVersion.init)
      ?? response.header("api-current-version").flatMap(
        APIVersion.init)
    return SystemInfo(version: detected, serverVersion: serverVersion)
  }

  func send(_ request: HTTPRequest, transport: HTTPTransport) throws(ConnectError)
    -> HTTPResponse
  {
    do {
      return try transport.send(request)
    } catch {
      throw .transport(error)
    }
  }

  /// The body as a JSON object; nil for a literal `null` when allowed.
  static func jsonObject(_ response: HTTPResponse, allowNull: Bool) throws(ConnectError)
    -> [String: Any]?
  {
    let text = String(decoding: response.body, as: UTF8.self).trimmingWhitespace()
    let type = response.header("Content-Type")?.lowercased() ?? ""
    if type.contains("html") || text.hasPrefix("<") {
      throw .unexpectedResponse(
        url: response.url,
        reason: "an HTML page where JSON was expected; is the server name right?")
    }
    if allowNull && text == "null" { return nil }
    guard let data = text.data(using: .utf8),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else {
      throw .unexpectedResponse(url: response.url, reason: "the answer is not a JSON object")
    }
    return object
  }

  /// The error for a non-2xx answer, with the server's code and message.
  static func statusError(_ response: HTTPResponse) -> ConnectError {
    var code: String?
    var message: String?
    if let data = Optional(Data(response.body)),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    {
      code = object["code"] as? String
      message = object["message"] as? String
    }
    switch response.status {
    case 401: return .authenticationFailed(code: code, message: message)
    case 403: return .forbidden(code: code, message: message)
    case 404: return .notFound(url: response.url, message: message)
    default:
      let type = response.header("Content-Type")?.lowercased() ?? ""
      if code == nil, type.contains("html") {
        return .apiError(status: response.status, code: nil, message: "an HTML error page")
      }
      return .apiError(status: response.status, code: code, message: message)
    }
  }
}
