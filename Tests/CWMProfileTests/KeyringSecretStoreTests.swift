import CWMProfile
import Foundation
import TestSupport
import Testing

/// Runs against one private keyring shared by the whole test process:
/// libsecret keeps its first bus connection, so every test here talks to
/// the fixture `PrivateSecretService.shared()` exported into the process
/// environment. Serialized because some tests lock the keyring.
///
/// The states that need a different process environment (no bus, a bus
/// without a Secret Service) are covered by the end-to-end tests, which run
/// the executable with an environment of their own.
@Suite(
  .serialized,
  .enabled(if: PrivateSecretService.shouldRun, Comment(rawValue: PrivateSecretService.skipReason))
)
struct KeyringSecretStoreTests {
  let keyring: PrivateSecretService
  let store = KeyringSecretStore(timeout: 10)

  init() throws {
    keyring = try PrivateSecretService.shared()
  }

  /// A profile name no other test uses, as the keyring outlives each test.
  private func uniqueProfile() -> String {
    "test-\(UUID().uuidString.prefix(8).lowercased())"
  }

  private func text(_ secret: SecretBytes?) -> String? {
    secret?.unsafeStringCopy()
  }

  /// Locks the keyring for `body`, and unlocks it again whatever happens.
  private func whileLocked(_ body: () throws -> Void) throws {
    try keyring.lock()
    defer { #expect(throws: Never.self) { try keyring.unlock() } }
    try body()
  }

  @Test func roundTripKeepsNonASCIIText() throws {
    let key = SecretKey(profile: uniqueProfile(), kind: .privateKey)
    let value = "-----BEGIN KEY-----\nключ ü 鍵 🔑\n-----END KEY-----\n"

    try store.write(SecretBytes(utf8: value), for: key, label: "round trip")
    let read = try store.read(key)

    #expect(read?.constantTimeEquals(SecretBytes(utf8: value)) == true)
    #expect(text(read) == value)
    try store.delete(key)
  }

  @Test func writeReplacesTheExistingSecret() throws {
    let key = SecretKey(profile: uniqueProfile(), kind: .password)

    try store.write(SecretBytes(utf8: "first"), for: key, label: "first label")
    try store.write(SecretBytes(utf8: "second"), for: key, label: "second label")

    #expect(text(try store.read(key)) == "second")
    #expect(try store.delete(key))
    #expect(try store.read(key) == nil)
  }

  @Test func deleteReportsWhetherThereWasASecret() throws {
    let key = SecretKey(profile: uniqueProfile(), kind: .token)
    try store.write(SecretBytes(utf8: "t0ken"), for: key, label: "token")

    let first = try store.delete(key)
    let second = try store.delete(key)

    #expect(first)
    #expect(!second)
    #expect(try store.read(key) == nil)
  }

  @Test func readingAnAbsentSecretReturnsNil() throws {
    #expect(try store.read(SecretKey(profile: uniqueProfile(), kind: .privateKey)) == nil)
  }

  @Test func libsecretIsKeptOnTheDaemonNotItsOwnFile() throws {
    _ = try store.read(SecretKey(profile: uniqueProfile(), kind: .privateKey))

    // Inside a sandbox libsecret would otherwise keep secrets in a file of
    // its own, out of the keyring's sight.
    #expect(getenv("SECRET_BACKEND").map { String(cString: $0) } == "service")
  }

  @Test(
    .enabled(
      if: PrivateSecretService.executablePath("secret-tool") != nil
        || PrivateSecretService.isRequired,
      "needs secret-tool (libsecret-tools) on PATH")
  )
  func itemsAreFindableWithSecretTool() throws {
    let profile = uniqueProfile()
    let key = SecretKey(profile: profile, kind: .privateKey)
    try store.write(SecretBytes(utf8: "old"), for: key, label: "cwm-profile \(profile) old")
    try store.write(SecretBytes(utf8: "new"), for: key, label: "cwm-profile \(profile) key")
    defer { _ = try? store.delete(key) }

    let result = try keyring.run(
      "secret-tool", ["search", "--all", "application", "cwm-profile", "profile", profile])

    #expect(result.status == 0, "\(result)")
    // secret-tool prints the attributes on standard error.
    let output = result.output
    #expect(output.components(separatedBy: "\nlabel = ").count == 2, "one item: \(output)")
    #expect(output.contains("label = cwm-profile \(profile) key"))
    #expect(output.contains("schema = net.cwm-profile.Secret"))
    #expect(output.contains("attribute.application = cwm-profile"))
    #expect(output.contains("attribute.profile = \(profile)"))
    #expect(output.contains("attribute.kind = private-key"))
  }

  @Test func profilesAndKindsDoNotCollide() throws {
    let (one, two) = (uniqueProfile(), uniqueProfile())
    let keys = [
      SecretKey(profile: one, kind: .privateKey), SecretKey(profile: one, kind: .password),
      SecretKey(profile: two, kind: .privateKey), SecretKey(profile: two, kind: .token),
    ]
    for key in keys { try store.write(SecretBytes(utf8: "value of \(key)"), for: key, label: "x") }
    defer { for key in keys { _ = try? store.delete(key) } }

    try store.delete(keys[0])

    #expect(try store.read(keys[0]) == nil)
    for key in keys.dropFirst() { #expect(text(try store.read(key)) == "value of \(key)") }
    #expect(try store.read(SecretKey(profile: two, kind: .password)) == nil)
  }

  @Test func lockedKeyringIsReportedAsLockedNeverAsMissing() throws {
    let key = SecretKey(profile: uniqueProfile(), kind: .privateKey)
    let absent = SecretKey(profile: uniqueProfile(), kind: .privateKey)
    try store.write(SecretBytes(utf8: "kept"), for: key, label: "locked test")
    defer { _ = try? store.delete(key) }

    try whileLocked {
      #expect(throws: SecretStoreError.keyringLocked) { try store.read(key) }
      #expect(throws: SecretStoreError.keyringLocked) { try store.read(absent) }
      #expect(throws: SecretStoreError.keyringLocked) {
        try store.write(SecretBytes(utf8: "other"), for: key, label: "locked test")
      }
      #expect(throws: SecretStoreError.keyringLocked) { try store.delete(key) }
      #expect(throws: SecretStoreError.keyringLocked) { try store.delete(absent) }
    }

    // The replacing daemon that unlocked the keyring is a new connection;
    // the store must follow it and find the item untouched.
    #expect(text(try store.read(key)) == "kept")
  }

  @Test func probeFollowsTheLockState() throws {
    #expect(KeyringSecretStore.probe() == .available)

    try whileLocked {
      let status = KeyringSecretStore.probe()
      #expect(status == .unavailable(.keyringLocked))
      #expect(!status.allowsFileFallback)
    }

    #expect(KeyringSecretStore.probe() == .available)
  }

  @Test func hungDaemonTimesOutOnTime() throws {
    let key = SecretKey(profile: uniqueProfile(), kind: .password)
    let quick = KeyringSecretStore(timeout: 1)
    try keyring.suspendKeyring()
    defer { #expect(throws: Never.self) { try keyring.resumeKeyring() } }

    let start = Date()
    #expect(throws: SecretStoreError.keyringTimeout(seconds: 1)) { try quick.read(key) }
    #expect(KeyringSecretStore.probe(timeout: 0.5) == .unavailable(.keyringTimeout(seconds: 0.5)))

    #expect(Date().timeIntervalSince(start) < 3)
  }

  @Test func debugLogNamesTheItemButNeverTheSecret() throws {
    let messages = LogCapture()
    let logged = KeyringSecretStore(timeout: 10, logger: messages.logger)
    let key = SecretKey(profile: uniqueProfile(), kind: .privateKey)

    try logged.write(SecretBytes(utf8: "sup3r-s3cret"), for: key, label: "log test")
    _ = try logged.read(key)
    try logged.delete(key)

    let lines = messages.lines
    #expect(lines.count >= 3)
    #expect(lines.allSatisfy { $0.level == .debug })
    #expect(lines.contains { $0.text.contains(key.description) })
    #expect(!lines.contains { $0.text.contains("sup3r") })
  }

  @Test func secretsTheKeyringCannotHoldAreRejectedWithoutEchoingThem() throws {
    let key = SecretKey(profile: uniqueProfile(), kind: .password)
    let rejected: [[UInt8]] = [
      Array("visible\u{0}hidden".utf8),
      [0x68, 0x69, 0xFF, 0xFE],
    ]

    for bytes in rejected {
      let error = #expect(throws: SecretStoreError.self) {
        try store.write(SecretBytes(bytes), for: key, label: "bad")
      }
      guard case .keyringFailed(let detail)? = error else {
        Issue.record("expected keyringFailed, got \(String(describing: error))")
        continue
      }
      #expect(!detail.contains("visible") && !detail.contains("hidden"))
    }

    #expect(try store.read(key) == nil)
  }
}

/// How the store choice reads `KeyringStatus`; needs no keyring.
@Suite struct KeyringStatusTests {
  @Test func fallbackIsAllowedOnlyWithoutAnySecretService() {
    #expect(KeyringStatus.unavailable(.noSessionBus(detail: "x")).allowsFileFallback)
    #expect(KeyringStatus.unavailable(.noSecretService(detail: "x")).allowsFileFallback)
    #expect(!KeyringStatus.unavailable(.noDefaultCollection).allowsFileFallback)
    #expect(!KeyringStatus.unavailable(.keyringLocked).allowsFileFallback)
    #expect(!KeyringStatus.unavailable(.keyringFailed(detail: "x")).allowsFileFallback)
    #expect(!KeyringStatus.unavailable(.keyringTimeout(seconds: 1)).allowsFileFallback)
    #expect(!KeyringStatus.available.allowsFileFallback)
  }
}

/// Collects what a `Logger` is given.
private final class LogCapture: @unchecked Sendable {
  private let lock = NSLock()
  private var collected: [(level: LogLevel, text: String)] = []

  var lines: [(level: LogLevel, text: String)] { lock.withLock { collected } }

  var logger: Logger {
    Logger { level, text in self.lock.withLock { self.collected.append((level, text)) } }
  }
}
