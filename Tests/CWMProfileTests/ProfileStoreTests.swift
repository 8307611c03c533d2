import Foundation
import Testing

@testable import CWMProfile

@Suite struct ProfileStoreTests {
  let directory: URL

  init() throws {
    directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("cwm-profiles-\(UUID().uuidString)")
  }

  var path: String { directory.path + "/cwm-profile/profiles.json" }

  func sample(_ name: String = "acme") -> Profile {
    Profile(
      name: name, server: "na.myconnectwise.net", company: "acme", clientId: "cid",
      publicKey: "PUB", store: .file)
  }

  @Test func addsListsAndFindsProfiles() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = ProfileStore(path: path)
    try store.add(sample("beta"))
    try store.add(sample("acme"))

    let reopened = ProfileStore(path: path)

    #expect(try reopened.all().map(\.name) == ["acme", "beta"])
    #expect(try reopened.profile(named: "beta") == sample("beta"))
    #expect(fileMode(path) == 0o600)
    #expect(fileMode(directory.path + "/cwm-profile") == 0o700)
  }

  @Test func neverReplacesAnExistingProfile() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = ProfileStore(path: path)
    try store.add(sample())
    var changed = sample()
    changed.company = "other"

    #expect(throws: ProfileError.alreadyExists(name: "acme")) { try store.add(changed) }
    #expect(try store.profile(named: "acme").company == "acme")
  }

  @Test func aFailingSecretWriteSavesNothing() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    struct Refused: Error {}
    let store = ProfileStore(path: path)

    #expect(throws: Refused.self) { try store.add(sample()) { throw Refused() } }
    #expect(try store.all().isEmpty)
  }

  @Test func secretsChangeOnlyOnceTheNewListIsWrittenAndFlushed() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = ProfileStore(path: path)
    let folder = (path as NSString).deletingLastPathComponent
    func preparedLists() -> [String] {
      let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
      return names.filter { $0.hasPrefix("profiles.json.tmp-") }
    }
    var whileAdding: [String] = []
    var whileRemoving: [String] = []

    try store.add(sample()) { whileAdding = preparedLists() }
    try store.remove(named: "acme") { _ in whileRemoving = preparedLists() }

    // A list that cannot be written fails before any secret is touched.
    #expect(whileAdding.count == 1)
    #expect(whileRemoving.count == 1)
    #expect(preparedLists().isEmpty)
  }

  @Test func removeReturnsTheProfileAndUnknownNamesAreErrors() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = ProfileStore(path: path)
    try store.add(sample())

    #expect(try store.remove(named: "acme") == sample())
    #expect(throws: ProfileError.notFound(name: "acme")) { try store.remove(named: "acme") }
    #expect(throws: ProfileError.notFound(name: "acme")) { try store.profile(named: "acme") }
  }

  @Test func aDamagedFileIsReportedNotReplaced() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    try FileManager.default.createDirectory(
      atPath: directory.path + "/cwm-profile", withIntermediateDirectories: true)
    try Data("{ not json".utf8).write(to: URL(fileURLWithPath: path))
    let store = ProfileStore(path: path)

    #expect(throws: ProfileError.self) { try store.add(sample()) }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("{ not json".utf8))
  }

  @Test func writesLeaveNoTemporaryFilesBehind() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = ProfileStore(path: path)
    for index in 0..<5 { try store.add(sample("p\(index)")) }

    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/cwm-profile")

    #expect(names.sorted() == ["profiles.json", "profiles.json.lock"])
  }

  @Test(arguments: ["acme", "ACME-2", "a.b_c", "x"])
  func acceptsSafeNames(name: String) throws {
    try ProfileName.validate(name)
  }

  @Test(arguments: [
    "", "-acme", ".hidden", "a/b", "a b", "ü", "a\nb", String(repeating: "a", count: 65),
  ])
  func rejectsUnsafeNames(name: String) {
    #expect(throws: ProfileError.self) { try ProfileName.validate(name) }
  }

  @Test func validationNormalisesServerAndVersionAndRejectsBadFields() throws {
    var profile = sample()
    profile.server = "https://NA.myconnectwise.net/v4_6_release/"
    profile.apiVersion = "v2025.1.9"
    profile.codebase = "/v4_6_release/"

    let valid = try profile.validated()

    #expect(valid.server == "na.myconnectwise.net")
    #expect(valid.apiVersion == "2025.1")
    #expect(valid.codebase == "v4_6_release")
    var bad = sample()
    bad.clientId = ""
    #expect(throws: ProfileError.invalidValue(field: "client-id", reason: "it is empty")) {
      try bad.validated()
    }
    bad = sample()
    bad.caFile = "relative.pem"
    #expect(throws: ProfileError.self) { try bad.validated() }
  }
}
