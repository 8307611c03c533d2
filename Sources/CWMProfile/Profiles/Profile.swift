/// How a profile authenticates to Manage.
public enum AuthMethod: String, Sendable, Codable {
  /// An API member's public and private key.
  case apiKey = "api-key"
  /// An API key acting as another member through a short-lived token.
  case impersonation
  /// A member's user name and password through the login form (legacy).
  case cookie
}

/// A named way to reach one company on one Manage server. Holds no secret:
/// the private key or password lives in the store named by `store`.
public struct Profile: Codable, Equatable, Sendable {
  /// The profile's name, as validated by `ProfileName`.
  public var name: String
  /// The server as `host` or `host:port`, normalised by `ServerAddress`.
  public var server: String
  /// The company identifier typed at login.
  public var company: String
  /// The integration's client ID, sent as `clientId` on every call.
  public var clientId: String
  /// The public half of the API key; nil for cookie login.
  public var publicKey: String?
  /// The member to impersonate, when set.
  public var memberId: String?
  /// The member's user name for cookie login, when set.
  public var username: String?
  /// The API version to ask for (`2025.1`); nil to use the server's.
  public var apiVersion: String?
  /// A PEM file of extra certificate authorities to trust.
  public var caFile: String?
  /// A codebase (`v4_6_release`) to use instead of looking it up.
  public var codebase: String?
  /// Which store holds this profile's secrets.
  public var store: StoreKind

  public init(
    name: String, server: String, company: String, clientId: String, publicKey: String?,
    memberId: String? = nil, username: String? = nil, apiVersion: String? = nil,
    caFile: String? = nil, codebase: String? = nil, store: StoreKind
  ) {
    self.name = name
    self.server = server
    self.company = company
    self.clientId = clientId
    self.publicKey = publicKey
    self.memberId = memberId
    self.username = username
    self.apiVersion = apiVersion
    self.caFile = caFile
    self.codebase = codebase
    self.store = store
  }

  /// The method implied by the fields that are set.
  public var method: AuthMethod {
    if username != nil { return .cookie }
    if memberId != nil { return .impersonation }
    return .apiKey
  }

  /// The secret this profile cannot connect without.
  public var primarySecret: SecretKey {
    SecretKey(profile: name, kind: method == .cookie ? .password : .privateKey)
  }

  /// A label for the primary secret that a person recognises in a
  /// keyring viewer.
  public var secretLabel: String {
    let what = method == .cookie ? "password of \(username ?? "")" : "private key"
    return "cwm-profile \(name): \(what) for \(company) on \(server)"
  }

  /// Checks every field and returns the profile with its server and
  /// version normalised.
  public func validated() throws(ProfileError) -> Profile {
    var copy = self
    try ProfileName.validate(name)
    do {
      copy.server = try ServerAddress(parsing: server).description
    } catch {
      throw .invalidValue(field: "server", reason: error.description)
    }
    try Self.requireText(company, field: "company", maxLength: 128)
    try Self.requireText(clientId, field: "client-id", maxLength: 128)
    if method == .cookie {
      try Self.requireText(username ?? "", field: "username", maxLength: 256)
    } else {
      try Self.requireText(publicKey ?? "", field: "public-key", maxLength: 256)
    }
    if let memberId { try Self.requireText(memberId, field: "member-id", maxLength: 128) }
    if let apiVersion {
      guard let version = APIVersion(apiVersion) else {
        throw .invalidValue(field: "api-version", reason: "expected a version such as 2025.1")
      }
      copy.apiVersion = version.description
    }
    if let codebase {
      guard let normalised = Codebase.normalise(codebase) else {
        throw .invalidValue(field: "codebase", reason: "expected a codebase such as v4_6_release")
      }
      copy.codebase = normalised
    }
    if let caFile, !caFile.hasPrefix("/") {
      throw .invalidValue(field: "ca-file", reason: "give an absolute path")
    }
    return copy
  }

  private static func requireText(_ value: String, field: String, maxLength: Int)
    throws(ProfileError)
  {
    guard !value.isEmpty else { throw .invalidValue(field: field, reason: "it is empty") }
    guard value.count <= maxLength else {
      throw .invalidValue(field: field, reason: "longer than \(maxLength) characters")
    }
    guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
    else { throw .invalidValue(field: field, reason: "it contains control characters") }
    guard value.trimmingWhitespace() == value else {
      throw .invalidValue(field: field, reason: "it has leading or trailing spaces")
    }
  }
}

/// The rules for profile names: 1 to 64 letters, digits, `.`, `_` or `-`,
/// starting with a letter or digit. Names are safe in file names, keyring
/// attributes and environment variable values.
public enum ProfileName {
  public static func validate(_ name: String) throws(ProfileError) {
    guard !name.isEmpty, name.utf8.count <= 64 else {
      throw .invalidName(name: name, reason: "use 1 to 64 characters")
    }
    let allowed = name.unicodeScalars.allSatisfy {
      ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
        || "._-".unicodeScalars.contains($0)
    }
    guard allowed, let first = name.unicodeScalars.first, !"._-".unicodeScalars.contains(first)
    else {
      throw .invalidName(
        name: name, reason: "use letters, digits, '.', '_' and '-', starting with a letter or digit"
      )
    }
  }
}

/// Why a profile could not be found, read, saved or accepted.
public enum ProfileError: Error, Equatable, Sendable {
  case notFound(name: String)
  case alreadyExists(name: String)
  case invalidName(name: String, reason: String)
  case invalidValue(field: String, reason: String)
  case fileDamaged(path: String, reason: String)
  case fileIO(path: String, detail: String)
  /// Another process changed or removed the profile while this one worked.
  case changedMeanwhile(name: String)
}

extension ProfileError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .notFound(let name): return "no profile named '\(name)'"
    case .alreadyExists(let name):
      return "a profile named '\(name)' already exists; remove it first or choose another name"
    case .invalidName(let name, let reason):
      return "invalid profile name '\(printable(name))': \(reason)"
    case .invalidValue(let field, let reason): return "invalid --\(field): \(reason)"
    case .fileDamaged(let path, let reason): return "\(path) is damaged: \(reason)"
    case .fileIO(let path, let detail): return "\(path): \(detail)"
    case .changedMeanwhile(let name):
      return "profile '\(name)' was changed by another command meanwhile; nothing was changed, "
        + "run this again"
    }
  }
}

/// `text` with control characters (C0, DEL, C1), line and paragraph
/// separators and bidirectional controls escaped, so that an error line
/// stays one line and shows its characters in the order they came.
func printable(_ text: String) -> String {
  var out = ""
  for scalar in text.unicodeScalars {
    if scalar.properties.generalCategory == .control || isLayoutControl(scalar) {
      out += scalar.escaped(asASCII: true)
    } else {
      out.unicodeScalars.append(scalar)
    }
  }
  return out
}

/// Bidirectional embeddings, overrides, isolates and marks (which can make
/// a terminal show text in another order than it is), and the Unicode line
/// and paragraph separators.
private func isLayoutControl(_ scalar: Unicode.Scalar) -> Bool {
  switch scalar.value {
  case 0x061C, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: return true
  default: return false
  }
}

extension String {
  func trimmingWhitespace() -> String {
    var scalars = Substring(self).unicodeScalars[...]
    while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
    while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
    return String(String.UnicodeScalarView(scalars))
  }
}
