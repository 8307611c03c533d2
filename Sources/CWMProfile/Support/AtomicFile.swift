import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Whole-file replacement that a crash cannot tear: the new contents go to
/// a temporary file in the same folder, are flushed to disk, renamed over
/// the old file, and the folder itself is flushed so the rename survives
/// a power cut.
enum AtomicFile {
  struct Failure: Error {
    var path: String
    var detail: String
  }

  /// Makes `directory` (and its parents) with mode 0700 when missing.
  static func ensureDirectory(_ directory: String) throws(Failure) {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else { throw Failure(path: directory, detail: "not a folder") }
      return
    }
    do {
      try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true,
        attributes: [.posixPermissions: 0o700])
    } catch {
      throw Failure(path: directory, detail: "cannot create folder: \(error.localizedDescription)")
    }
  }

  /// Reads the whole file, or nil when it does not exist.
  static func read(_ path: String) throws(Failure) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 {
      if errno == ENOENT { return nil }
      throw Failure(path: path, detail: systemError())
    }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw Failure(path: path, detail: systemError())
      }
      if n == 0 { break }
      bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
  }

  /// Replaces `path` with `bytes`, mode 0600.
  ///
  /// - Parameter keepPrevious: when set, the file being replaced stays
  ///   reachable as `path` + `.previous`.
  static func write(_ bytes: [UInt8], to path: String, keepPrevious: Bool = false) throws(Failure) {
    try prepare(bytes, to: path, keepPrevious: keepPrevious).commit()
  }

  /// A new file written and flushed beside its destination, not yet in
  /// place: what can fail (space, permissions) has been tried, and the
  /// caller can still decide not to go on.
  struct Prepared {
    let temporary: String
    let path: String
    let keepPrevious: Bool

    /// Puts the new file in place. With `keepPrevious`, the file it
    /// replaces is first hard-linked as `.previous-pending` and only moved
    /// to `.previous` once the new file is in place, so a crash at any
    /// instant loses neither the current file nor the previous generation
    /// (`recoverPrevious` finishes the move).
    func commit() throws(Failure) {
      let directory = (path as NSString).deletingLastPathComponent
      var pending: String?
      if keepPrevious {
        AtomicFile.recoverPrevious(of: path)
        let name = AtomicFile.pendingPath(path)
        // Where links are not supported the old file is simply not kept.
        if link(path, name) == 0 { pending = name }
      }
      guard rename(temporary, path) == 0 else {
        let detail = systemError()
        unlink(temporary)
        if let pending { unlink(pending) }
        throw Failure(path: path, detail: detail)
      }
      AtomicFile.syncDirectory(directory)
      if let pending {
        rename(pending, path + ".previous")
        AtomicFile.syncDirectory(directory)
      }
    }

    /// Removes the new file without touching the old one.
    func discard() { unlink(temporary) }
  }

  /// Writes `bytes` to a temporary file beside `path` and flushes it.
  static func prepare(_ bytes: [UInt8], to path: String, keepPrevious: Bool = false)
    throws(Failure) -> Prepared
  {
    let directory = (path as NSString).deletingLastPathComponent
    try ensureDirectory(directory)
    let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw Failure(path: temporary, detail: systemError()) }
    var failure: Failure?
    var offset = 0
    while offset < bytes.count, failure == nil {
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
      if n < 0 {
        if errno != EINTR { failure = Failure(path: temporary, detail: systemError()) }
      } else {
        offset += n
      }
    }
    if failure == nil, fsync(fd) != 0 { failure = Failure(path: temporary, detail: systemError()) }
    close(fd)
    if let failure {
      unlink(temporary)
      throw failure
    }
    return Prepared(temporary: temporary, path: path, keepPrevious: keepPrevious)
  }

  /// Where the generation being replaced waits while the new one goes in.
  static func pendingPath(_ path: String) -> String { path + ".previous-pending" }

  /// Finishes what a writer killed during `commit` left: a pending
  /// generation that is still the current file was never replaced and is
  /// dropped; one that is not became the previous generation. Call it
  /// under the lock that writers hold.
  static func recoverPrevious(of path: String) {
    let pending = pendingPath(path)
    var waiting = stat()
    guard stat(pending, &waiting) == 0 else { return }
    var current = stat()
    if stat(path, &current) == 0, current.st_ino == waiting.st_ino,
      current.st_dev == waiting.st_dev
    {
      unlink(pending)
    } else {
      rename(pending, path + ".previous")
    }
    syncDirectory((path as NSString).deletingLastPathComponent)
  }

  /// Flushes a folder's entries (a rename) to disk.
  static func syncDirectory(_ directory: String) {
    let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
  }

  /// Removes temporary files that a killed writer left beside `path`.
  static func removeStrayTemporaries(beside path: String) {
    let directory = (path as NSString).deletingLastPathComponent
    let prefix = (path as NSString).lastPathComponent + ".tmp-"
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
      return
    }
    for name in names where name.hasPrefix(prefix) {
      // Only files whose writer is gone: the PID is the part after the prefix.
      let pidText = name.dropFirst(prefix.count).prefix { $0 != "-" }
      if let pid = Int32(pidText), pid != getpid(), kill(pid, 0) == 0 || errno == EPERM {
        continue
      }
      unlink(directory + "/" + name)
    }
  }
}

/// An exclusive advisory lock (`flock`) on a lock file beside the data,
/// held across a read-modify-write so that parallel processes take turns.
final class FileLock {
  private let fd: Int32

  /// Blocks until the lock on `path` is held.
  init(path: String) throws(AtomicFile.Failure) {
    try AtomicFile.ensureDirectory((path as NSString).deletingLastPathComponent)
    // Never through a link someone planted: a lock file is ours or nothing.
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard fd >= 0 else { throw AtomicFile.Failure(path: path, detail: systemError()) }
    while flock(fd, LOCK_EX) != 0 {
      if errno == EINTR { continue }
      let detail = systemError()
      close(fd)
      throw AtomicFile.Failure(path: path, detail: detail)
    }
  }

  deinit {
    flock(fd, LOCK_UN)
    close(fd)
  }

  /// Runs `body` while holding the lock on `path`.
  static func withLock<R>(
    _ path: String, _ body: () throws -> R
  ) throws -> R {
    let lock = try FileLock(path: path)
    defer { withExtendedLifetime(lock) {} }
    return try body()
  }
}

/// The text of the current `errno`.
func systemError() -> String {
  String(cString: strerror(errno))
}

/// The permission bits of `path`, or nil when it cannot be examined.
func fileMode(_ path: String) -> UInt32? {
  var info = stat()
  guard stat(path, &info) == 0 else { return nil }
  return UInt32(info.st_mode) & 0o7777
}
