#if canImport(Glibc)
  import Glibc
#endif

/// A terminal to ask for secrets on, with echo turned off while typing.
/// The controlling terminal stays open until the value is released, so it
/// can be asked more than once (a new passphrase and its confirmation).
public final class Terminal: Sendable {
  private let inputFD: Int32
  private let outputFD: Int32
  private let ownsDescriptors: Bool

  private init(inputFD: Int32, outputFD: Int32, ownsDescriptors: Bool) {
    self.inputFD = inputFD
    self.outputFD = outputFD
    self.ownsDescriptors = ownsDescriptors
  }

  deinit {
    if ownsDescriptors { close(inputFD) }
  }

  /// The process's controlling terminal (`/dev/tty`), or nil when there is
  /// none (cron, CI, a service).
  public static func controlling() -> Terminal? {
    let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    return Terminal(inputFD: fd, outputFD: fd, ownsDescriptors: true)
  }

  /// Standard input when it is a terminal; prompts go to standard error.
  public static func standardInput() -> Terminal? {
    guard isatty(STDIN_FILENO) == 1 else { return nil }
    return Terminal(inputFD: STDIN_FILENO, outputFD: STDERR_FILENO, ownsDescriptors: false)
  }

  /// Shows `prompt`, reads one line without echoing it, and returns it
  /// without the line ending; nil at end of input or on a read error.
  public func readHidden(prompt: String) -> SecretBytes? {
    // Echo goes off before the prompt shows, so that an answer typed as
    // soon as the prompt appears is neither echoed nor flushed away.
    var saved = termios()
    let canHide = tcgetattr(inputFD, &saved) == 0
    if canHide {
      var quiet = saved
      quiet.c_lflag &= ~tcflag_t(ECHO)
      quiet.c_lflag |= tcflag_t(ECHONL)
      tcsetattr(inputFD, TCSAFLUSH, &quiet)
    }
    defer { if canHide { tcsetattr(inputFD, TCSAFLUSH, &saved) } }
    write(prompt)
    return readLine(from: inputFD)
  }

  private func write(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { Glibc.write(outputFD, $0.baseAddress, $0.count) }
  }
}

/// Reads bytes up to a newline from `fd` into a wiped buffer, one byte at
/// a time so nothing past the line is consumed. Nil at end of input with
/// nothing read.
func readLine(from fd: Int32, limit: Int = 64 * 1024) -> SecretBytes? {
  let buffer = SecretBytes(count: limit)
  var length = 0
  var sawAnything = false
  let ok = buffer.withUnsafeMutableBytes { out -> Bool in
    while length < limit {
      let n = Glibc.read(fd, out.baseAddress! + length, 1)
      if n < 0 {
        if errno == EINTR { continue }
        return false
      }
      if n == 0 { break }
      sawAnything = true
      if out[length] == UInt8(ascii: "\n") {
        out[length] = 0
        break
      }
      length += 1
    }
    return true
  }
  guard ok, sawAnything else { return nil }
  var end = length
  buffer.withUnsafeBytes { bytes in
    if end > 0, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
  }
  return buffer.withUnsafeBytes { SecretBytes(UnsafeRawBufferPointer(rebasing: $0[0..<end])) }
}

/// What reading a secret to the end of a descriptor gave.
public enum SecretReading {
  /// The secret, without one trailing line ending.
  case value(SecretBytes)
  /// There was more than the limit; nothing is returned, never a part.
  case tooLong(limit: Int)
  /// `read` failed, with the system's message.
  case failed(String)
}

/// Reads `fd` to its end into a wiped buffer and drops one trailing line
/// ending (`\n` or `\r\n`): a secret piped in or kept in a file. The
/// descriptor is left open.
public func readSecret(toEndOf fd: Int32, limit: Int = 64 * 1024) -> SecretReading {
  // One byte more than allowed tells a secret at the limit from a longer one.
  let buffer = SecretBytes(count: limit + 1)
  var length = 0
  var failure: String?
  buffer.withUnsafeMutableBytes { out in
    while length < out.count {
      let n = Glibc.read(fd, out.baseAddress! + length, out.count - length)
      if n < 0 {
        if errno == EINTR { continue }
        failure = systemError()
        return
      }
      if n == 0 { return }
      length += n
    }
  }
  if let failure { return .failed(failure) }
  guard length <= limit else { return .tooLong(limit: limit) }
  return buffer.withUnsafeBytes { bytes in
    var end = length
    if end > 0, bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
    if end > 0, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
    return .value(SecretBytes(UnsafeRawBufferPointer(rebasing: bytes[0..<end])))
  }
}
