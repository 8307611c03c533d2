import CCurl

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The real `HTTPTransport`: HTTPS through libcurl, one easy handle per
/// exchange. Every call into libcurl goes through this file.
///
/// TLS is always verified. Redirects are followed here, not by libcurl, and
/// only within the origin of the request (https, same host, same port), so the
/// `Authorization` and `Cookie` headers a request carries never reach a host
/// the caller did not name.
public final class CurlTransport: HTTPTransport {
  private let options: HTTPOptions
  private let logger: Logger

  /// Makes a transport.
  /// - Parameters:
  ///   - options: CA file, timeouts and the redirect limit.
  ///   - logger: receives one debug line per exchange; never headers or bodies.
  public init(options: HTTPOptions = HTTPOptions(), logger: Logger = .silent) {
    self.options = options
    self.logger = logger
  }

  /// Sends `request`, following same-origin redirects.
  /// - Returns: the final answer, whatever its status.
  /// - Throws: `HTTPError` when no final answer came back, or when a redirect
  ///   pointed somewhere the request's credentials must not go.
  public func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
    guard Curl.ready else { throw .transport(detail: "libcurl could not be initialised") }
    var url = try CurlURL.requestURL(request.url)
    if let caFile = options.caFile { try Self.checkReadable(caFile) }
    let totalMs = Self.milliseconds(options.totalTimeout)
    let clock = ContinuousClock()
    let deadline = clock.now + .milliseconds(totalMs)
    var method = request.method
    var headers = request.headers
    var body = request.body
    var redirects = 0

    while true {
      let remainingMs = Self.wholeMilliseconds(clock.now.duration(to: deadline))
      guard remainingMs > 0 else {
        throw .timedOut(host: url.hostAndPort, seconds: options.totalTimeout)
      }
      let response = try exchange(method, url, headers, body, timeoutMs: remainingMs)
      guard Self.redirectStatuses.contains(response.status),
        let location = response.header("Location")
      else { return response }

      // The origin rule below is what keeps Authorization and Cookie headers
      // (and the body) from being sent to any host but the one asked for.
      guard let target = CurlURL.resolve(location, against: url) else {
        throw .redirectRefused(from: url.redacted, to: "an unparseable location")
      }
      guard target.scheme == "https", target.isSameOrigin(as: url) else {
        throw .redirectRefused(from: url.redacted, to: target.redacted)
      }
      guard redirects < options.maxRedirects else { throw .tooManyRedirects(url: url.redacted) }
      redirects += 1
      let becomesGet =
        response.status == 303 && method != "HEAD"
        || (response.status == 301 || response.status == 302) && method == "POST"
      if becomesGet {
        method = "GET"
        body = nil
        headers.removeAll { ["content-type", "content-length"].contains($0.name.lowercased()) }
      }
      url = target
    }
  }

  private static let redirectStatuses: Set<Int> = [301, 302, 303, 307, 308]

  /// A hostile server could stream an endless body; nothing Manage sends comes
  /// near this.
  fileprivate static let maxBodyBytes = 64 << 20

  /// One request and its answer on a fresh easy handle, no redirects.
  private func exchange(
    _ method: String, _ url: CurlURL, _ headers: [HTTPHeader], _ body: [UInt8]?, timeoutMs: Int
  ) throws(HTTPError) -> HTTPResponse {
    guard let handle = curl_easy_init() else {
      throw .transport(detail: "curl_easy_init failed")
    }
    defer { curl_easy_cleanup(handle) }
    let easy = EasyHandle(handle: handle)
    var headerList: UnsafeMutablePointer<curl_slist>?
    defer { curl_slist_free_all(headerList) }
    for line in try Self.headerLines(headers) {
      guard let appended = curl_slist_append(headerList, line) else {
        throw .transport(detail: "out of memory building the request headers")
      }
      headerList = appended
    }
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
    errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    defer { errorBuffer.deallocate() }
    // POSTFIELDS is not copied by libcurl; this copy outlives the transfer.
    let bodyCopy = UnsafeMutableRawBufferPointer.allocate(
      byteCount: max(1, body?.count ?? 0), alignment: 1)
    defer { bodyCopy.deallocate() }
    if let body { bodyCopy.copyBytes(from: body) }
    let sink = ResponseSink()
    let context = Unmanaged.passUnretained(sink).toOpaque()

    try easy.set(CURLOPT_URL, url.full)
    try easy.set(CURLOPT_PROTOCOLS_STR, "https")
    try easy.set(CURLOPT_REDIR_PROTOCOLS_STR, "https")
    try easy.set(CURLOPT_NOSIGNAL, 1)
    try easy.closeSocketsOnExec()
    try easy.set(CURLOPT_SSL_VERIFYPEER, 1)
    try easy.set(CURLOPT_SSL_VERIFYHOST, 2)
    try easy.set(CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2)
    if let caFile = options.caFile {
      // CAINFO replaces libcurl's built-in bundle file with the user's, and a
      // NULL CAPATH drops the CA folder it was built with (/etc/ssl/certs on
      // Debian): the profile's file is then the only list trusted.
      try easy.set(CURLOPT_CAINFO, caFile)
      try easy.set(CURLOPT_CAPATH, nil)
    }
    try easy.set(
      CURLOPT_CONNECTTIMEOUT_MS, min(Self.milliseconds(options.connectTimeout), timeoutMs))
    try easy.set(CURLOPT_TIMEOUT_MS, timeoutMs)
    try easy.set(CURLOPT_USERAGENT, Curl.userAgent)
    try easy.set(CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer))
    try easy.setMethod(method, hasBody: body != nil, body: bodyCopy, count: body?.count ?? 0)
    try easy.set(CURLOPT_HTTPHEADER, list: headerList)
    try easy.setCallbacks(context: context)

    let started = ContinuousClock.now
    let code = withExtendedLifetime(sink) { curl_easy_perform(handle) }
    let elapsedMs = Self.wholeMilliseconds(started.duration(to: .now))

    guard code == CURLE_OK else {
      let error = failure(code, easy, url, sink, errorBuffer, timeoutMs: timeoutMs)
      logger.debug("\(method) \(url.redacted) -> failed: \(error) (\(elapsedMs) ms)")
      throw error
    }
    let status = easy.responseCode()
    logger.debug("\(method) \(url.redacted) -> \(status) (\(elapsedMs) ms)")
    return HTTPResponse(status: status, headers: sink.headers, body: sink.body, url: url.full)
  }

  /// Turns a failed `curl_easy_perform` into the error callers see.
  private func failure(
    _ code: CURLcode, _ easy: EasyHandle, _ url: CurlURL, _ sink: ResponseSink,
    _ errorBuffer: UnsafeMutablePointer<CChar>, timeoutMs: Int
  ) -> HTTPError {
    if sink.bodyTooLarge {
      return .transport(detail: "response body larger than \(Self.maxBodyBytes >> 20) MiB")
    }
    let buffered = String(cString: errorBuffer)
    let detail = buffered.isEmpty ? String(cString: curl_easy_strerror(code)) : buffered
    // Without a finished TLS handshake it was the connect limit that ran out,
    // unless the time left for the whole exchange was shorter.
    let connectMs = Self.milliseconds(options.connectTimeout)
    let connectLimitHit = easy.appConnectMicroseconds() == 0 && connectMs < timeoutMs
    let limit = connectLimitHit ? options.connectTimeout : options.totalTimeout
    return Self.classify(
      code: code.rawValue, detail: detail, host: url.hostAndPort, timeout: limit)
  }

  /// Maps a libcurl result code to an `HTTPError`.
  static func classify(code: UInt32, detail: String, host: String, timeout: Double) -> HTTPError {
    switch code {
    case 6: return .couldNotResolve(host: host)
    case 7: return .connectionRefused(host: host)
    case 28: return .timedOut(host: host, seconds: timeout)
    case 35, 51, 53, 54, 58, 59, 60, 77, 80, 83, 90, 91:
      return .tlsFailure(host: host, detail: detail)
    case 18, 52, 55, 56: return .connectionLost(host: host, detail: detail)
    default: return .transport(detail: detail)
    }
  }

  /// The request headers as curl_slist lines, plus the suppressions that keep
  /// libcurl from adding headers the caller did not ask for.
  private static func headerLines(_ headers: [HTTPHeader]) throws(HTTPError) -> [String] {
    var lines: [String] = []
    var names: Set<String> = []
    for header in headers {
      let nameOK =
        !header.name.isEmpty
        && header.name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }
      guard nameOK else { throw .transport(detail: "invalid request header name") }
      guard !header.value.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 }) else {
        throw .transport(detail: "request header \(header.name) contains a line break")
      }
      names.insert(header.name.lowercased())
      // "Name:" would delete the header in libcurl; "Name;" sends it empty.
      lines.append(header.value.isEmpty ? "\(header.name);" : "\(header.name): \(header.value)")
    }
    // No 100-continue round trip, and no invented form content type.
    if !names.contains("expect") { lines.append("Expect:") }
    if !names.contains("content-type") { lines.append("Content-Type:") }
    return lines
  }

  /// Fails with `.caFileUnreadable` unless `path` is a readable regular file.
  private static func checkReadable(_ path: String) throws(HTTPError) {
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(path, R_OK) == 0
    else { throw .caFileUnreadable(path: path) }
  }

  /// Seconds as whole milliseconds for libcurl, at least 1 (0 means "no limit"
  /// to libcurl) and small enough for a C `long`.
  private static func milliseconds(_ seconds: Double) -> Int {
    guard seconds > 0 else { return 1 }
    guard seconds < 2_000_000 else { return 2_000_000_000 }
    return max(1, Int((seconds * 1000).rounded(.up)))
  }

  private static func wholeMilliseconds(_ duration: Duration) -> Int {
    let (seconds, attoseconds) = duration.components
    return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
  }
}

/// Process-wide libcurl state.
private enum Curl {
  /// `curl_global_init`, run on first use. Swift runs a static initialiser
  /// exactly once, even when threads race to it.
  static let ready: Bool = cwm_curl_global_init() == CURLE_OK

  /// `curl_version_info`: the libcurl actually loaded, not the headers' one.
  static let userAgent = "cwm-profile/0.1 libcurl/\(String(cString: cwm_curl_version_string()))"
}

/// Collects what the callbacks deliver during one transfer.
private final class ResponseSink {
  var headers: [HTTPHeader] = []
  var body: [UInt8] = []
  var bodyTooLarge = false

  /// One header line as libcurl hands it over, line ending included.
  func takeHeaderLine(_ raw: UnsafeRawBufferPointer) {
    var bytes = raw[...]
    while let last = bytes.last, last == 0x0A || last == 0x0D { bytes = bytes.dropLast() }
    let line = String(decoding: bytes, as: UTF8.self)
    if line.hasPrefix("HTTP/") {
      // A new status line: an interim (1xx) or proxy answer came before.
      headers = []
      body = []
    } else if let first = line.first, first == " " || first == "\t", !headers.isEmpty {
      headers[headers.count - 1].value += " " + Self.trimmed(line[...])
    } else if let colon = line.firstIndex(of: ":") {
      let name = String(line[..<colon])
      headers.append(HTTPHeader(name, Self.trimmed(line[line.index(after: colon)...])))
    }
  }

  /// Body bytes; false once the body passes the limit, which aborts the transfer.
  func takeBody(_ raw: UnsafeRawBufferPointer, limit: Int) -> Bool {
    guard body.count + raw.count <= limit else {
      bodyTooLarge = true
      return false
    }
    body.append(contentsOf: raw)
    return true
  }

  private static func trimmed(_ text: Substring) -> String {
    let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    guard let start = text.firstIndex(where: { !blank($0) }),
      let end = text.lastIndex(where: { !blank($0) })
    else { return "" }
    return String(text[start...end])
  }
}

/// Typed access to one easy handle's options and information.
private struct EasyHandle {
  let handle: UnsafeMutableRawPointer

  /// `cwm_curl_setopt_long` (`curl_easy_setopt` with a long).
  func set(_ option: CURLoption, _ value: Int) throws(HTTPError) {
    try check(cwm_curl_setopt_long(handle, option, value), option)
  }

  /// `cwm_curl_setopt_string` (`curl_easy_setopt` with a string libcurl copies).
  func set(_ option: CURLoption, _ value: String) throws(HTTPError) {
    try check(cwm_curl_setopt_string(handle, option, value), option)
  }

  /// `cwm_curl_setopt_pointer` (`curl_easy_setopt` with a pointer kept by libcurl).
  func set(_ option: CURLoption, _ value: UnsafeMutableRawPointer?) throws(HTTPError) {
    try check(cwm_curl_setopt_pointer(handle, option, value), option)
  }

  /// `cwm_curl_setopt_slist` (`curl_easy_setopt` with a `curl_slist`).
  func set(_ option: CURLoption, list: UnsafeMutablePointer<curl_slist>?) throws(HTTPError) {
    try check(cwm_curl_setopt_slist(handle, option, list), option)
  }

  /// Chooses the request method and body. POSTFIELDS needs a pointer that
  /// stays valid for the whole transfer.
  func setMethod(
    _ method: String, hasBody: Bool, body: UnsafeMutableRawBufferPointer, count: Int
  ) throws(HTTPError) {
    guard !method.isEmpty, method.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
      throw .transport(detail: "invalid request method")
    }
    switch method {
    case "GET" where !hasBody:
      try set(CURLOPT_HTTPGET, 1)
    case "HEAD":
      try set(CURLOPT_NOBODY, 1)
    case _ where hasBody || ["POST", "PUT", "PATCH"].contains(method):
      // Without POSTFIELDS a POST would read its body from stdin.
      try set(CURLOPT_POSTFIELDS, body.baseAddress)
      try set(CURLOPT_POSTFIELDSIZE, count)
      if method != "POST" { try set(CURLOPT_CUSTOMREQUEST, method) }
    default:
      try set(CURLOPT_CUSTOMREQUEST, method)
    }
  }

  /// `cwm_curl_setopt_header_callback` and `cwm_curl_setopt_write_callback`,
  /// with `context` (an unretained `ResponseSink`) as HEADERDATA and WRITEDATA.
  func setCallbacks(context: UnsafeMutableRawPointer) throws(HTTPError) {
    try check(
      cwm_curl_setopt_header_callback(handle) { data, size, count, context in
        let length = size * count
        guard let data, let context else { return length }
        let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
        sink.takeHeaderLine(UnsafeRawBufferPointer(start: data, count: length))
        return length
      }, CURLOPT_HEADERFUNCTION)
    try set(CURLOPT_HEADERDATA, context)
    try check(
      cwm_curl_setopt_write_callback(handle) { data, size, count, context in
        let length = size * count
        guard let data, let context else { return length }
        let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
        let raw = UnsafeRawBufferPointer(start: data, count: length)
        // Returning less than `length` makes libcurl abort with CURLE_WRITE_ERROR.
        return sink.takeBody(raw, limit: CurlTransport.maxBodyBytes) ? length : 0
      }, CURLOPT_WRITEFUNCTION)
    try set(CURLOPT_WRITEDATA, context)
  }

  /// `cwm_curl_setopt_cloexec_sockets`: connections are not inherited by
  /// programs this process starts.
  func closeSocketsOnExec() throws(HTTPError) {
    try check(cwm_curl_setopt_cloexec_sockets(handle), CURLOPT_OPENSOCKETFUNCTION)
  }

  /// `cwm_curl_getinfo_long` with CURLINFO_RESPONSE_CODE.
  func responseCode() -> Int {
    var code = 0
    _ = cwm_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
    return code
  }

  /// `cwm_curl_getinfo_off_t` with CURLINFO_APPCONNECT_TIME_T: 0 until the TLS
  /// handshake has completed.
  func appConnectMicroseconds() -> Int64 {
    var value: curl_off_t = 0
    _ = cwm_curl_getinfo_off_t(handle, CURLINFO_APPCONNECT_TIME_T, &value)
    return Int64(value)
  }

  private func check(_ code: CURLcode, _ option: CURLoption) throws(HTTPError) {
    guard code != CURLE_OK else { return }
    let reason = String(cString: curl_easy_strerror(code))
    throw .transport(detail: "libcurl rejected option \(option.rawValue): \(reason)")
  }
}

/// A URL as libcurl's own parser (`curl_url`) reads it, so the origin checked
/// here is the origin libcurl connects to. User info and fragment are removed.
private struct CurlURL {
  /// The URL handed to CURLOPT_URL, query included.
  var full: String
  var scheme: String
  /// Lower-cased, IPv6 literals in brackets.
  var host: String
  /// The port in effect (443 when https names none).
  var port: Int
  /// The port as written, if written.
  var explicitPort: String?
  var path: String

  /// Host and written port, for errors.
  var hostAndPort: String { explicitPort.map { "\(host):\($0)" } ?? host }

  /// Scheme, host, port and path: no user info, query or fragment, which can
  /// carry secrets. For errors and logs.
  var redacted: String { "\(scheme)://\(hostAndPort)\(path)" }

  func isSameOrigin(as other: CurlURL) -> Bool {
    scheme == other.scheme && host == other.host && port == other.port
  }

  /// The URL a request names; `.invalidURL` unless it is https with a host
  /// and without user info.
  static func requestURL(_ text: String) throws(HTTPError) -> CurlURL {
    // libcurl's parser forgives "https:///name" and reads "name" as the host,
    // so the authority is checked on the text first.
    let rest = text.utf8.dropFirst(8)
    let hasAuthority =
      text.lowercased().hasPrefix("https://")
      && rest.first.map { !"/\\?#".utf8.contains($0) } == true
    guard hasAuthority, !text.utf8.contains(0), let parsed = parse(text, base: nil) else {
      throw .invalidURL(roughlyRedacted(text))
    }
    let url = parsed.url
    guard url.scheme == "https", !url.host.isEmpty, !parsed.hadUserInfo else {
      throw .invalidURL(url.redacted)
    }
    return url
  }

  /// A Location header resolved against the URL that sent it.
  static func resolve(_ location: String, against base: CurlURL) -> CurlURL? {
    guard !location.utf8.contains(0) else { return nil }
    return parse(location, base: base.full)?.url
  }

  /// `curl_url`, `curl_url_set`, `curl_url_get`, `curl_url_cleanup`.
  private static func parse(_ text: String, base: String?) -> (url: CurlURL, hadUserInfo: Bool)? {
    guard let handle = curl_url() else { return nil }
    defer { curl_url_cleanup(handle) }
    if let base, curl_url_set(handle, CURLUPART_URL, base, 0) != CURLUE_OK { return nil }
    let flags = UInt32(CURLU_NON_SUPPORT_SCHEME)
    guard curl_url_set(handle, CURLUPART_URL, text, flags) == CURLUE_OK else { return nil }

    func part(_ which: CURLUPart, _ flags: Int32 = 0) -> String? {
      var value: UnsafeMutablePointer<CChar>?
      guard curl_url_get(handle, which, &value, UInt32(flags)) == CURLUE_OK, let value else {
        return nil
      }
      defer { curl_free(value) }
      return String(cString: value)
    }
    let hadUserInfo = part(CURLUPART_USER) != nil || part(CURLUPART_PASSWORD) != nil
    for which in [CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS, CURLUPART_FRAGMENT] {
      _ = curl_url_set(handle, which, nil, 0)
    }
    guard let full = part(CURLUPART_URL), let scheme = part(CURLUPART_SCHEME),
      let host = part(CURLUPART_HOST)
    else { return nil }
    let port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT).flatMap { Int($0) } ?? -1
    let url = CurlURL(
      full: full, scheme: scheme.lowercased(), host: host.lowercased(), port: port,
      explicitPort: part(CURLUPART_PORT), path: part(CURLUPART_PATH) ?? "/")
    return (url, hadUserInfo)
  }

  /// For text libcurl cannot parse: cut at the query or fragment and drop
  /// anything that looks like user info.
  private static func roughlyRedacted(_ text: String) -> String {
    var kept = String(text.prefix { $0 != "?" && $0 != "#" })
    if let schemeEnd = kept.range(of: "://") {
      let authorityEnd = kept[schemeEnd.upperBound...].firstIndex(of: "/") ?? kept.endIndex
      if let at = kept[schemeEnd.upperBound..<authorityEnd].lastIndex(of: "@") {
        kept.removeSubrange(schemeEnd.upperBound...at)
      }
    }
    return String(kept.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(200))
  }
}
