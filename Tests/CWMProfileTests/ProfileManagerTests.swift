import Foundation
import Testing

@testable import CWMProfile

/// A transport that runs a hook before each request, to change the world
/// while a connect is under way.
final class HookedTransport: HTTPTransport, @unchecked Sendable {
  let inner: ScriptedTransport
  let hook: (HTTPRequest) -> Void

  init(_ inner: ScriptedTransport, hook: @escaping (HTTPRequest) -> Void) {
    self.inner = inner
    self.hook = hook
  }

  func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
    hook(request)
    return try inner.send(request)
  }
}

@Suite struct ProfileManagerTests {
  let directory: URL
  let profile = Profile(
    name: "acme", server: "cw.example.com", company: "acme", clientId: "cid",
    publicKey: "PUB123", store: .memory)

  init() throws {
    directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("cwm-manager-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
  }

  func manager(hook: @escaping (HTTPRequest) -> Void) -> ProfileManager {
    let scripted = ScriptedTransport()
    scripted.answer(
      "https://cw.example.com/login/companyinfo/acme",
      json: #"{"Codebase":"v4_6_release/","IsCloud":false}"#)
    scripted.answer(
      "https://cw.example.com/v4_6_release/apis/3.0/system/info",
      json: #"{"version":"v2025.1.10432"}"#)
    let transport = HookedTransport(scripted, hook: hook)
    let paths = Paths(
      configDirectory: directory.path + "/config", dataDirectory: directory.path + "/data",
      cacheDirectory: directory.path + "/cache")
    return ProfileManager(
      profiles: ProfileStore(paths: paths),
      stores: SecretStores(paths: paths, passphrase: FixedPassphrase(SecretBytes(utf8: "x"))),
      engine: ConnectEngine(transport: { _ in transport }), cache: ConnectionCache(paths: paths))
  }

  @Test func aProfileRemovedWhileConnectingGetsNoCacheAndNoToken() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    var removeDuringValidation: (() -> Void)?
    let manager = manager { request in
      if request.url.hasSuffix("/system/info") { removeDuringValidation?() }
    }
    try manager.add(profile, secret: SecretBytes(utf8: "PRIV456"))
    removeDuringValidation = { _ = try? manager.remove(named: "acme") }

    _ = try manager.connect(named: "acme")

    let store = manager.stores.store(.memory)
    #expect(try store.read(SecretKey(profile: "acme", kind: .token)) == nil)
    #expect(try store.read(SecretKey(profile: "acme", kind: .privateKey)) == nil)
    let cached = try? FileManager.default.contentsOfDirectory(
      atPath: directory.path + "/cache/connections")
    #expect((cached ?? []).isEmpty, "\(cached ?? [])")
  }

  @Test func anUnchangedProfileIsCached() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let manager = manager { _ in }
    try manager.add(profile, secret: SecretBytes(utf8: "PRIV456"))

    let first = try manager.connect(named: "acme")
    let second = try manager.connect(named: "acme")

    #expect(!first.fromCache && second.fromCache)
    #expect(try manager.stores.store(.memory).read(SecretKey(profile: "acme", kind: .token)) != nil)
  }
}
