/// Why a profile could not be turned into a connection. Descriptions are
/// one line and never contain a secret.
public enum ConnectError: Error, Equatable, Sendable {
  /// Company info answered `null`: the server does not know the company.
  case unknownCompany(company: String, server: String)
  /// An answer that is not what the API gives: HTML, invalid JSON.
  case unexpectedResponse(url: String, reason: String)
  /// 401: the keys, the client ID or the company were not accepted.
  case authenticationFailed(code: String?, message: String?)
  /// 403: authenticated, but not allowed.
  case forbidden(code: String?, message: String?)
  /// 404 under the API: usually a stale or wrong codebase.
  case notFound(url: String, message: String?)
  /// Any other HTTP error status.
  case apiError(status: Int, code: String?, message: String?)
  /// The exchange failed before a status came back.
  case transport(HTTPError)
  /// The profile's store holds no secret for it.
  case secretMissing(profile: String, kind: SecretKind, store: StoreKind)
  /// The store could not be read.
  case store(SecretStoreError)
  /// The profile itself is unusable.
  case invalidProfile(reason: String)
  /// A path or URL given for a request is not one under the base URL.
  case invalidPath(reason: String)
  /// The server knows no member by the identifier to impersonate.
  case unknownMember(member: String)
  /// The API key may not impersonate (403 on the token request).
  case impersonationDenied(code: String?, message: String?)
  /// Cookie login answered `Success: false`.
  case loginRefused(username: String)
}

extension ConnectError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .unknownCompany(let company, let server):
      return "company '\(printable(company))' is not known to \(server)"
    case .unexpectedResponse(let url, let reason):
      return "unexpected answer from \(shown(url)): \(reason)"
    case .authenticationFailed(let code, let message):
      var text = "authentication failed (401\(Self.detail(code, message)))"
      if message?.lowercased().contains("clientid") == true {
        text += "; check the profile's client ID"
      } else {
        text += "; check the company, public key, private key and client ID"
      }
      return text
    case .forbidden(let code, let message):
      return "access denied (403\(Self.detail(code, message)))"
    case .notFound(let url, let message):
      return "not found: \(shown(url))\(message.map { " (\(printable($0)))" } ?? "")"
    case .apiError(let status, let code, let message):
      return "the server answered HTTP \(status)\(Self.detail(code, message))"
    case .transport(let error): return error.description
    case .secretMissing(let profile, let kind, let store):
      return
        "the \(store.rawValue) store holds no \(kind.rawValue) for profile '\(profile)'; "
        + "remove and add the profile again"
    case .store(let error): return error.description
    case .invalidProfile(let reason): return "unusable profile: \(reason)"
    case .invalidPath(let reason): return reason
    case .unknownMember(let member):
      return "the server knows no member '\(printable(member))' to impersonate"
    case .impersonationDenied(let code, let message):
      return "this API key may not impersonate members (403\(Self.detail(code, message)))"
    case .loginRefused(let username):
      return
        "login refused for '\(printable(username))': wrong user name or password, or the member "
        + "uses multi-factor authentication, which cookie login cannot pass; use an API key"
    }
  }

  /// A URL for an error line: its query, which may hold search terms not
  /// meant for logs (as `--verbose` leaves them out), becomes `?…`.
  private func shown(_ url: String) -> String {
    let path = printable(String(url.prefix { $0 != "?" && $0 != "#" }))
    return url.contains("?") ? path + "?…" : path
  }

  private static func detail(_ code: String?, _ message: String?) -> String {
    let parts = [code, message].compactMap { $0 }.filter { !$0.isEmpty }.map {
      printable(String($0.prefix(300)))
    }
    return parts.isEmpty ? "" : ": " + parts.joined(separator: ": ")
  }
}
