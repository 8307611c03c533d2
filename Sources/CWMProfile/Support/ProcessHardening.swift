import CSystem

#if canImport(Glibc)
  import Glibc
#endif

/// Process-wide protections for a program that holds secrets in memory:
/// no core file (`RLIMIT_CORE` 0) and not dumpable (`PR_SET_DUMPABLE` 0),
/// which also keeps other processes of the same user from attaching a
/// debugger or reading `/proc/PID/mem`. Secret buffers themselves are
/// locked out of swap and wiped by `SecretBytes`.
///
/// A library does not change its host process on its own: programs call
/// `apply()` once, early.
public enum ProcessHardening {
  nonisolated(unsafe) private static var savedCoreLimit = rlimit()
  nonisolated(unsafe) private static var applied = false

  /// Turns core files off and makes the process non-dumpable.
  public static func apply() {
    if !applied {
      getrlimit(Int32(RLIMIT_CORE.rawValue), &savedCoreLimit)
      applied = true
    }
    var none = rlimit(rlim_cur: 0, rlim_max: savedCoreLimit.rlim_max)
    setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
    _ = cwm_set_dumpable(0)
  }

  /// Puts the core-file limit back as it was, just before this process
  /// becomes another program (`execve` resets dumpability by itself).
  public static func restoreForChild() {
    guard applied else { return }
    setrlimit(Int32(RLIMIT_CORE.rawValue), &savedCoreLimit)
  }

  /// Whether core files are off and the process is not dumpable.
  public static var isApplied: Bool {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
    return limit.rlim_cur == 0 && cwm_get_dumpable() == 0
  }
}
