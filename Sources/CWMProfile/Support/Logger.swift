/// How much a message matters; the library itself only uses `debug` and
/// `trace`, so it stays quiet unless its caller asks.
public enum LogLevel: Int, Sendable, Comparable {
  case trace, debug, info, warning

  public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// Where the library sends what it has to say. Messages never contain a
/// secret. The default discards everything.
public struct Logger: Sendable {
  private let sink: (@Sendable (LogLevel, String) -> Void)?

  /// A logger that passes each message to `sink`.
  public init(_ sink: @escaping @Sendable (LogLevel, String) -> Void) {
    self.sink = sink
  }

  private init() { sink = nil }

  /// A logger that discards everything.
  public static let silent = Logger()

  public func debug(_ message: @autoclosure () -> String) { log(.debug, message) }
  public func trace(_ message: @autoclosure () -> String) { log(.trace, message) }
  public func info(_ message: @autoclosure () -> String) { log(.info, message) }
  public func warning(_ message: @autoclosure () -> String) { log(.warning, message) }

  private func log(_ level: LogLevel, _ message: () -> String) {
    sink?(level, message())
  }
}
