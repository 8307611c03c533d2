import CWMProfile

#if canImport(Glibc)
  import Glibc
#endif

/// Standard output and standard error, written with `write(2)` so that
/// nothing is buffered past an exit.
enum Console {
  static func out(_ text: String) { put(STDOUT_FILENO, text) }
  static func error(_ text: String) { put(STDERR_FILENO, text) }

  private static func put(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
      let n = bytes.withUnsafeMutableBytes {
        write(fd, $0.baseAddress! + offset, $0.count - offset)
      }
      if n <= 0 {
        if n < 0 && errno == EINTR { continue }
        return
      }
      offset += n
    }
  }

  /// A logger that prints the library's messages on stderr, for `--verbose`.
  static func logger(verbose: Bool) -> Logger {
    guard verbose else { return .silent }
    return Logger { level, message in
      if level >= .debug { Console.error("cwm-profile: \(message)\n") }
    }
  }
}

/// Reads a secret the way `add` promises: hidden on the terminal when
/// standard input is one, otherwise the whole of standard input (one
/// trailing line ending removed).
enum SecretInput {
  /// The most a secret may have; more is refused, never cut short.
  static let limit = 64 * 1024

  enum Outcome {
    case value(SecretBytes)
    case tooLong(limit: Int)
  }

  /// The secret, or nil when there was none (end of input on a terminal).
  static func read(prompt: String) -> Outcome? {
    if let terminal = Terminal.standardInput() {
      return terminal.readHidden(prompt: prompt).map { .value($0) }
    }
    return readStandardInput()
  }

  private static func readStandardInput() -> Outcome? {
    // One byte more than allowed tells a secret at the limit from a longer one.
    let buffer = SecretBytes(count: limit + 1)
    var length = 0
    buffer.withUnsafeMutableBytes { out in
      while length < out.count {
        let n = Glibc.read(STDIN_FILENO, out.baseAddress! + length, out.count - length)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        length += n
      }
    }
    guard length <= limit else { return .tooLong(limit: limit) }
    return buffer.withUnsafeBytes { bytes in
      var end = length
      if end > 0, bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
      if end > 0, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
      return .value(SecretBytes(UnsafeRawBufferPointer(rebasing: bytes[0..<end])))
    }
  }
}
