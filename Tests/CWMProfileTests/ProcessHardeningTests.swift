import Foundation
import Testing

@testable import CWMProfile

@Suite struct ProcessHardeningTests {
  @Test func coreFilesAreOffAndTheProcessIsNotDumpable() {
    ProcessHardening.apply()

    var limit = rlimit()
    getrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
    #expect(limit.rlim_cur == 0)
    #expect(ProcessHardening.isApplied)
  }

  @Test func secretBuffersAreLockedInMemory() throws {
    // Large enough to stand out from what parallel tests lock and unlock.
    let before = try lockedKiB()
    let secret = SecretBytes(count: 2 * 1024 * 1024)
    let during = try lockedKiB()
    withExtendedLifetime(secret) {}

    #expect(during - before >= 1024, "VmLck went from \(before) to \(during) KiB")
  }

  /// `VmLck` of `/proc/self/status`.
  func lockedKiB() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmLck:") })
    return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
  }
}
