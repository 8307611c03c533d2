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
  /// The secret, or nil when there was none (end of input on a terminal,
  /// or a failed read).
  static func read(prompt: String) -> SecretReading? {
    if let terminal = Terminal.standardInput() {
      return terminal.readHidden(prompt: prompt).map { .value($0) }
    }
    let reading = readSecret(toEndOf: STDIN_FILENO)
    if case .failed = reading { return nil }
    return reading
  }
}
