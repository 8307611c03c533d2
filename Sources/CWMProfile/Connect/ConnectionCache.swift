import Foundation

/// Remembers built connections so that a later `connect` needs no network.
///
/// A cached connection belongs to everything it was made from: the
/// profile's server, company, client ID, public key, member, user name,
/// version pin, codebase override and CA file, the version asked for, and
/// the secret itself. Change any of them and it no longer matches.
///
/// What is not secret (codebase, base URL, versions, times) sits in
/// `$XDG_CACHE_HOME/cwm-profile/connections/NAME.json`. What is (the
/// `Authorization` value, the cookies, and a fingerprint that covers the
/// secret) sits in the profile's own store as its `token` entry.
public struct ConnectionCache: Sendable {
  public let directory: String
  /// Seconds a cached connection is trusted without asking the server.
  public let lifetime: Double
  /// An impersonation token is replaced this many seconds before it expires.
  public let tokenMargin: Double

  public init(directory: String, lifetime: Double = 3600, tokenMargin: Double = 300) {
    self.directory = directory
    self.lifetime = lifetime
    self.tokenMargin = tokenMargin
  }

  /// The cache at its usual place for `paths`.
  public init(paths: Paths, lifetime: Double = 3600) {
    self.init(directory: paths.cacheDirectory + "/connections", lifetime: lifetime)
  }

  private struct Record: Codable {
    var version: Int
    var fingerprint: String
    var codebase: String
    var baseUrl: String
    var method: AuthMethod
    var apiVersion: String
    var serverVersion: String?
    var isCloud: Bool?
    var createdAt: Date
    var validUntil: Date
  }

  private struct SecretPart: Codable {
    var fingerprint: String
    var authorization: String?
    var cookies: [[String]]
    var expiration: Date?
  }

  func path(_ name: String) -> String { "\(directory)/\(name).json" }

  /// The cached connection, or nil when there is none that still matches
  /// and is still within its lifetime. A token near its expiration is
  /// returned all the same; `needsNewToken` tells.
  public func load(
    _ profile: Profile, options: ConnectEngine.Options, secret: SecretBytes, store: SecretStore,
    now: Date = Date()
  ) throws -> Connection? {
    guard let bytes = try? AtomicFile.read(path(profile.name)),
      let record = try? Self.decoder.decode(Record.self, from: Data(bytes)),
      record.version == 1, record.fingerprint == Self.fingerprint(profile, options),
      record.method == profile.method, now < record.validUntil, now >= record.createdAt,
      // The lifetime in force now counts too, so a shorter one (0: no
      // cache) applies to what an earlier run saved.
      now < record.createdAt.addingTimeInterval(lifetime),
      Self.isTrustedBaseURL(record.baseUrl, codebase: record.codebase, profile: profile)
    else { return nil }
    guard let stored = try store.read(SecretKey(profile: profile.name, kind: .token)) else {
      return nil
    }
    let part = stored.withUnsafeBytes { try? Self.decoder.decode(SecretPart.self, from: Data($0)) }
    guard let part, part.fingerprint == Self.fingerprint(profile, options, secret: secret) else {
      return nil
    }
    var headers = ConnectEngine.credentialHeaders(
      authorization: part.authorization, profile: profile, version: APIVersion(record.apiVersion))
    if profile.method != .cookie, part.authorization == nil { headers = [] }
    guard !headers.isEmpty else { return nil }
    var connection = Connection(
      profile: profile.name, server: profile.server, company: profile.company,
      codebase: record.codebase, baseURL: record.baseUrl, method: record.method,
      apiVersion: record.apiVersion, headers: headers,
      cookies: part.cookies.compactMap { $0.count == 2 ? HTTPHeader($0[0], $0[1]) : nil },
      expiration: part.expiration, serverVersion: record.serverVersion, isCloud: record.isCloud)
    connection.fromCache = true
    connection.cachedUntil = record.validUntil
    return connection
  }

  /// Whether a cached base URL is exactly what `connect` could have built
  /// for the profile: https, a host its rule for API hosts allows, then the
  /// codebase and the API path. The file is not secret and anyone who can
  /// write the user's cache could point it at a host of their choosing.
  static func isTrustedBaseURL(_ baseURL: String, codebase: String, profile: Profile) -> Bool {
    let scheme = "https://"
    guard baseURL.hasPrefix(scheme), Codebase.normalise(codebase) == codebase,
      let server = try? ServerAddress(parsing: profile.server)
    else { return false }
    let authority = baseURL.dropFirst(scheme.count).prefix { $0 != "/" }
    guard let host = try? ServerAddress(parsing: String(authority)),
      ConnectEngine.mayBeAPIHost(host, server: server)
    else { return false }
    return baseURL == "\(host.origin)/\(codebase)/\(ConnectEngine.apiPath)"
  }

  /// Whether a cached impersonation connection needs a new token now.
  public func needsNewToken(_ connection: Connection, now: Date = Date()) -> Bool {
    guard connection.method == .impersonation else { return false }
    guard let expiration = connection.expiration else { return true }
    return expiration.timeIntervalSince(now) < tokenMargin
  }

  /// Saves `connection`: its secret part first, then the record that
  /// points at it, so a crash between the two leaves nothing that matches.
  /// With a lifetime of 0 nothing is saved, and what an earlier run saved
  /// is forgotten.
  public func save(
    _ connection: Connection, profile: Profile, options: ConnectEngine.Options,
    secret: SecretBytes, store: SecretStore, now: Date = Date()
  ) throws {
    guard lifetime > 0 else {
      try forget(profile.name, store: store)
      return
    }
    let part = SecretPart(
      fingerprint: Self.fingerprint(profile, options, secret: secret),
      authorization: connection.header("Authorization"),
      cookies: connection.cookies.map { [$0.name, $0.value] }, expiration: connection.expiration)
    var encoded = Array(try Self.encoder.encode(part))
    defer { encoded.withUnsafeMutableBytes { Sodium.wipe($0) } }
    try store.write(
      SecretBytes(encoded), for: SecretKey(profile: profile.name, kind: .token),
      label:
        "cwm-profile \(profile.name): cached connection for \(profile.company) on \(profile.server)"
    )
    // An impersonation token is replaced on its own schedule (see
    // `needsNewToken`); the rest stays trusted for the usual lifetime.
    let validUntil = now.addingTimeInterval(lifetime)
    let record = Record(
      version: 1, fingerprint: Self.fingerprint(profile, options), codebase: connection.codebase,
      baseUrl: connection.baseURL, method: connection.method, apiVersion: connection.apiVersion,
      serverVersion: connection.serverVersion, isCloud: connection.isCloud, createdAt: now,
      validUntil: validUntil)
    do {
      try AtomicFile.write(Array(try Self.encoder.encode(record)), to: path(profile.name))
    } catch let failure as AtomicFile.Failure {
      throw SecretStoreError.fileIO(path: failure.path, detail: failure.detail)
    }
  }

  /// Forgets the cached connection of `name`: the record, and the secret
  /// part in `store` when one is given.
  ///
  /// - Returns: whether anything was cached.
  @discardableResult
  public func forget(_ name: String, store: SecretStore?) throws -> Bool {
    let hadFile = unlink(path(name)) == 0
    guard let store else { return hadFile }
    return try store.delete(SecretKey(profile: name, kind: .token)) || hadFile
  }

  /// A digest of the profile's non-secret fields and the options.
  static func fingerprint(_ profile: Profile, _ options: ConnectEngine.Options) -> String {
    let fields: [String?] = [
      "v1", profile.server, profile.company, profile.clientId, profile.publicKey,
      profile.memberId, profile.username, profile.apiVersion, profile.codebase, profile.caFile,
      options.apiVersion, profile.method.rawValue,
    ]
    // Each field is length-prefixed so that no two different lists of
    // fields run together into the same bytes.
    var bytes: [UInt8] = []
    for field in fields {
      let utf8 = Array((field ?? "\u{0}").utf8)
      bytes += withUnsafeBytes(of: UInt32(utf8.count).bigEndian) { Array($0) } + utf8
    }
    return hex(Sodium.blake2b(bytes, key: nil, length: 32))
  }

  /// The same digest, also covering the secret; kept only inside the store.
  static func fingerprint(
    _ profile: Profile, _ options: ConnectEngine.Options, secret: SecretBytes
  ) -> String {
    let secretDigest = secret.withUnsafeBytes { Sodium.blake2b(raw: $0, length: 32) }
    return hex(
      Sodium.blake2b(Array(fingerprint(profile, options).utf8) + secretDigest, key: nil, length: 32)
    )
  }

  private static func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
  }

  private static let encoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .iso8601
    encoder.outputFormatting = [.sortedKeys]
    return encoder
  }()

  private static let decoder: JSONDecoder = {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return decoder
  }()
}
