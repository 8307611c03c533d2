import Foundation

/// Where cwm-profile keeps its files, following the XDG base directory
/// rules: `$XDG_CONFIG_HOME/cwm-profile` for profiles,
/// `$XDG_DATA_HOME/cwm-profile` for the encrypted secrets file and
/// `$XDG_CACHE_HOME/cwm-profile` for what can be rebuilt.
public struct Paths: Sendable, Equatable {
  public var configDirectory: String
  public var dataDirectory: String
  public var cacheDirectory: String

  public init(configDirectory: String, dataDirectory: String, cacheDirectory: String) {
    self.configDirectory = configDirectory
    self.dataDirectory = dataDirectory
    self.cacheDirectory = cacheDirectory
  }

  /// The paths for an environment such as `ProcessInfo.processInfo.environment`.
  /// A relative XDG value is ignored, as the specification asks.
  public init(environment: [String: String]) {
    let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    func base(_ variable: String, _ fallback: String) -> String {
      if let value = environment[variable], value.hasPrefix("/") { return value }
      return home + "/" + fallback
    }
    configDirectory = base("XDG_CONFIG_HOME", ".config") + "/cwm-profile"
    dataDirectory = base("XDG_DATA_HOME", ".local/share") + "/cwm-profile"
    cacheDirectory = base("XDG_CACHE_HOME", ".cache") + "/cwm-profile"
  }

  /// The profile list.
  public var profilesFile: String { configDirectory + "/profiles.json" }

  /// The encrypted secrets file of headless mode.
  public var secretsFile: String { dataDirectory + "/secrets.cwmsec" }
}
