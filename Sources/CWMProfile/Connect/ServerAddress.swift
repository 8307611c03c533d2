#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A Manage server as `host` or `host:port`, whatever the user typed:
/// scheme, user info, path, query and fragment are dropped, the host is
/// lower-cased, and anything that is not a host name or IP literal is
/// refused. An IPv6 address must be in brackets (`[::1]:8443`), so that a
/// port is never mistaken for part of it. Connections always use HTTPS.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
  /// The host name or IP address; IPv6 without brackets.
  public let host: String
  /// The port, when one was given and it is not 443.
  public let port: Int?

  /// Why a server string was refused.
  public struct Invalid: Error, CustomStringConvertible, Equatable {
    public let description: String
  }

  /// Parses what a user typed: `na.myconnectwise.net`,
  /// `https://cw.example.com/v4_6_release/`, `cw.example.com:8443`.
  public init(parsing text: String) throws(Invalid) {
    var rest = Substring(text.trimmingWhitespace())
    guard !rest.isEmpty else { throw Invalid(description: "the server is empty") }
    if let schemeEnd = rest.range(of: "://") {
      let scheme = rest[..<schemeEnd.lowerBound].lowercased()
      guard scheme == "https" || scheme == "http" else {
        throw Invalid(description: "unsupported scheme '\(scheme)'; cwm-profile speaks HTTPS")
      }
      rest = rest[schemeEnd.upperBound...]
    }
    if let end = rest.firstIndex(where: { "/?#".contains($0) }) { rest = rest[..<end] }
    if rest.contains("@") {
      throw Invalid(description: "the server must not contain user information ('@')")
    }
    var hostPart = rest
    var portPart: Substring?
    if rest.hasPrefix("[") {
      guard let close = rest.firstIndex(of: "]") else {
        throw Invalid(description: "unclosed '[' in the server")
      }
      hostPart = rest[rest.index(after: rest.startIndex)..<close]
      let after = rest[rest.index(after: close)...]
      if !after.isEmpty {
        guard after.hasPrefix(":") else { throw Invalid(description: "unexpected text after ']'") }
        portPart = after.dropFirst()
      }
      guard Self.isIPv6(hostPart) else {
        throw Invalid(description: "'\(printable(String(hostPart)))' is not an IPv6 address")
      }
    } else {
      let colons = rest.filter { $0 == ":" }.count
      guard colons <= 1 else {
        throw Invalid(
          description: "'\(printable(String(rest)))' is not a host with an optional port; "
            + "write an IPv6 address in brackets, as [::1]:8443")
      }
      if let colon = rest.lastIndex(of: ":") {
        hostPart = rest[..<colon]
        portPart = rest[rest.index(after: colon)...]
      }
    }
    let host = hostPart.lowercased()
    if !Self.isIPv6(hostPart) {
      guard Self.isHostName(host) || Self.isIPv4(host) else {
        throw Invalid(description: "'\(printable(host))' is not a valid host name")
      }
    }
    var port: Int?
    if let portPart {
      guard let number = Int(portPart), (1...65535).contains(number),
        portPart.allSatisfy(\.isASCII)
      else {
        throw Invalid(description: "'\(printable(String(portPart)))' is not a valid port")
      }
      port = number == 443 ? nil : number
    }
    self.host = host
    self.port = port
  }

  /// `host` or `host:port`, with brackets around an IPv6 address.
  public var description: String {
    let shown = host.contains(":") ? "[\(host)]" : host
    return port.map { "\(shown):\($0)" } ?? shown
  }

  /// `https://` followed by the description.
  public var origin: String { "https://\(description)" }

  static func isHostName(_ host: String) -> Bool {
    let labels = host.split(separator: ".", omittingEmptySubsequences: false)
    guard !host.isEmpty, host.utf8.count <= 253, !labels.isEmpty else { return false }
    return labels.allSatisfy { label in
      !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
        && label.unicodeScalars.allSatisfy {
          $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-")
        }
    }
  }

  static func isIPv4(_ host: String) -> Bool {
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4
      && parts.allSatisfy { part in
        !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII)
          && Int(part).map { (0...255).contains($0) } == true
      }
  }

  /// Whether `host` is an IPv6 address as `inet_pton` reads them (no zone).
  static func isIPv6(_ host: Substring) -> Bool {
    guard host.contains(":"), host.utf8.count <= 45, host.allSatisfy(\.isASCII) else {
      return false
    }
    var address = in6_addr()
    return inet_pton(AF_INET6, String(host), &address) == 1
  }
}

/// The ConnectWise cloud's naming of its hosts.
enum CloudHosts {
  static let domains = ["myconnectwise.net", "connectwisedev.com"]

  /// Whether `host` is one of ConnectWise's own hosts.
  static func isConnectWise(_ host: String) -> Bool {
    domains.contains { host == $0 || host.hasSuffix("." + $0) }
  }

  /// The API host for a cloud web host: `na.myconnectwise.net` answers the
  /// web pages, `api-na.myconnectwise.net` the API.
  static func apiHost(forWebHost address: ServerAddress) -> ServerAddress {
    let labels = address.host.split(separator: ".")
    guard labels.count == 3, "\(labels[1]).\(labels[2])" == "myconnectwise.net",
      !labels[0].hasPrefix("api-"),
      let converted = try? ServerAddress(parsing: "api-\(address.description)")
    else { return address }
    return converted
  }
}

/// A Manage API version such as `2025.1`: major and minor only.
public struct APIVersion: Hashable, Sendable, CustomStringConvertible {
  public let major: Int
  public let minor: Int

  /// Accepts `2025.1`, `v2025.1.99999` or `2025.1.0` and keeps major.minor.
  public init?(_ text: String) {
    var rest = Substring(text.trimmingWhitespace())
    if rest.first == "v" || rest.first == "V" { rest = rest.dropFirst() }
    let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }),
      let major = Int(parts[0]), let minor = Int(parts[1]),
      parts.dropFirst(2).allSatisfy({
        Int($0) != nil
      }), major >= 0, minor >= 0
    else { return nil }
    self.major = major
    self.minor = minor
  }

  public var description: String { "\(major).\(minor)" }
}

/// Codebases (`v4_6_release`, `v2025_1`) as path segments.
enum Codebase {
  /// The codebase without surrounding slashes, or nil when it holds
  /// anything but letters, digits, `_`, `.` and `-`.
  static func normalise(_ text: String) -> String? {
    var trimmed = Substring(text.trimmingWhitespace())
    while trimmed.hasPrefix("/") { trimmed = trimmed.dropFirst() }
    while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard !trimmed.isEmpty, trimmed.count <= 64,
      trimmed.unicodeScalars.allSatisfy({
        $0.isASCII
          && ($0.properties.isAlphabetic || ("0"..."9").contains($0)
            || "_.-".unicodeScalars.contains($0))
      }), trimmed != ".", trimmed != ".."
    else { return nil }
    return String(trimmed)
  }
}
