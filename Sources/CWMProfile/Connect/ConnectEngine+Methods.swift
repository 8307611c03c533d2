import Foundation

extension ConnectEngine {
  /// An impersonation token, ready as an `Authorization` value.
  struct Token {
    var authorization: String
    var expiration: Date
  }

  /// `POST {base}/system/members/{member}/tokens` with the API key's own
  /// authorization and `x-cw-usertype: member`.
  func requestToken(
    _ profile: Profile, secret: SecretBytes, baseURL: String, transport: HTTPTransport
  ) throws(ConnectError) -> Token {
    let member = profile.memberId ?? ""
    let escaped =
      member.addingPercentEncoding(withAllowedCharacters: .urlUnreserved) ?? member
    var headers = Self.credentialHeaders(
      authorization: ManageHeaders.basicAuthorization(
        company: profile.company, publicKey: profile.publicKey ?? "", privateKey: secret),
      profile: profile, version: nil)
    headers.append(HTTPHeader("x-cw-usertype", "member"))
    headers.append(HTTPHeader("Content-Type", "application/json"))
    let body = (try? JSONSerialization.data(withJSONObject: ["memberIdentifier": member])) ?? Data()
    let url = "\(baseURL)/system/members/\(escaped)/tokens"
    let response = try send(
      HTTPRequest(method: "POST", url: url, headers: headers, body: Array(body)),
      transport: transport)
    switch response.status {
    case 200, 201: break
    case 404: throw .unknownMember(member: member)
    case 403:
      let error = Self.statusError(response)
      if case .forbidden(let code, let message) = error {
        throw .impersonationDenied(code: code, message: message)
      }
      throw error
    default: throw Self.statusError(response)
    }
    guard let object = try Self.jsonObject(response, allowNull: false),
      let publicKey = object["publicKey"] as? String, !publicKey.isEmpty,
      let privateKey = object["privateKey"] as? String, !privateKey.isEmpty,
      let expirationText = object["expiration"] as? String,
      let expiration = parseTimestamp(expirationText)
    else {
      throw .unexpectedResponse(url: url, reason: "a token answer without keys or expiration")
    }
    let authorization = ManageHeaders.basicAuthorization(
      company: profile.company, publicKey: publicKey, privateKey: SecretBytes(utf8: privateKey))
    logger.debug("impersonating \(member) until \(expirationText)")
    return Token(authorization: authorization, expiration: expiration)
  }

  /// The legacy login form: `POST {origin}/{codebase}/login/login.aspx?response=json`
  /// with the company, user name and password, answered with a member hash.
  func login(
    _ profile: Profile, password: SecretBytes, origin: String, codebase: String,
    transport: HTTPTransport
  ) throws(ConnectError) -> String {
    let username = profile.username ?? ""
    var form = Array(
      "CompanyName=\(formEncoded(profile.company))&UserName=\(formEncoded(username))&Password=".utf8
    )
    password.withUnsafeBytes { form += formEncoded(bytes: $0) }
    form += Array("&ChkSharedComputer=false".utf8)
    defer { form.withUnsafeMutableBytes { Sodium.wipe($0) } }
    let url = "\(origin)/\(codebase)/login/login.aspx?response=json"
    let response = try send(
      HTTPRequest(
        method: "POST", url: url,
        headers: [
          HTTPHeader("Content-Type", "application/x-www-form-urlencoded"),
          HTTPHeader("Accept", "application/json"),
        ], body: form), transport: transport)
    guard response.status == 200 else { throw Self.statusError(response) }
    guard let object = try Self.jsonObject(response, allowNull: false) else {
      throw .unexpectedResponse(url: redacted(url), reason: "an empty login answer")
    }
    guard object["Success"] as? Bool == true else { throw .loginRefused(username: username) }
    guard let hash = object["Hash"] as? String, !hash.isEmpty else {
      throw .unexpectedResponse(url: redacted(url), reason: "a login answer without a Hash")
    }
    // The hash goes into a Cookie header: only cookie-value characters
    // (RFC 6265), so that an answer cannot break or add header lines.
    guard hash.utf8.allSatisfy(Self.isCookieOctet) else {
      throw .unexpectedResponse(
        url: redacted(url), reason: "a login answer whose Hash cannot be a cookie")
    }
    return hash
  }
}

extension ConnectEngine {
  /// A byte allowed in a cookie value: printable US-ASCII except space,
  /// `"`, `,`, `;` and `\`.
  static func isCookieOctet(_ byte: UInt8) -> Bool {
    (0x21...0x7E).contains(byte) && ![0x22, 0x2C, 0x3B, 0x5C].contains(byte)
  }
}

extension CharacterSet {
  /// RFC 3986's unreserved characters: everything else is percent-encoded.
  static let urlUnreserved = CharacterSet(
    charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}

/// `text` percent-encoded for a form or query value: every byte outside
/// the unreserved set, UTF-8 first.
func formEncoded(_ text: String) -> String {
  String(decoding: Array(text.utf8).withUnsafeBytes { formEncoded(bytes: $0) }, as: UTF8.self)
}

func formEncoded(bytes: UnsafeRawBufferPointer) -> [UInt8] {
  let hex = Array("0123456789ABCDEF".utf8)
  var out: [UInt8] = []
  out.reserveCapacity(bytes.count * 3)
  for byte in bytes {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
      UInt8(ascii: "_"), UInt8(ascii: "~"):
      out.append(byte)
    default:
      out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
    }
  }
  return out
}

/// An ISO 8601 timestamp as Manage writes them, with or without fractional
/// seconds; a missing zone means UTC.
func parseTimestamp(_ text: String) -> Date? {
  let plain = ISO8601DateFormatter()
  let fractional = ISO8601DateFormatter()
  fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
  for candidate in [text, text + "Z"] {
    if let date = plain.date(from: candidate) ?? fractional.date(from: candidate) { return date }
  }
  return nil
}
