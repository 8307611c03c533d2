import CWMProfile
import Foundation

/// What every command needs, built from the environment and the global
/// options.
struct Context {
  let environment: [String: String]
  let verbose: Bool
  let logger: Logger
  let paths: Paths

  init(environment: [String: String], verbose: Bool) {
    self.environment = environment
    self.verbose = verbose
    self.logger = Console.logger(verbose: verbose)
    self.paths = Paths(environment: environment)
  }

  /// Seconds a Secret Service call may take (`CWM_PROFILE_KEYRING_TIMEOUT`).
  func keyringTimeout() throws(UsageError) -> Double {
    guard let text = environment["CWM_PROFILE_KEYRING_TIMEOUT"] else { return 10 }
    guard let seconds = Double(text), seconds > 0, seconds <= 600 else {
      throw UsageError(message: "CWM_PROFILE_KEYRING_TIMEOUT must be a number of seconds (0-600]")
    }
    return seconds
  }

  /// The work factor for a new encrypted file (`CWM_PROFILE_KDF`).
  func strength() throws(UsageError) -> KeyDerivationStrength {
    guard let text = environment["CWM_PROFILE_KDF"] else { return .interactive }
    guard let strength = KeyDerivationStrength(rawValue: text) else {
      let names = KeyDerivationStrength.allCases.map(\.rawValue).joined(separator: ", ")
      throw UsageError(message: "CWM_PROFILE_KDF must be one of \(names)")
    }
    return strength
  }

  /// Seconds a whole HTTP exchange may take (`CWM_PROFILE_HTTP_TIMEOUT`).
  func httpTimeout() throws(UsageError) -> Double {
    guard let text = environment["CWM_PROFILE_HTTP_TIMEOUT"] else { return 60 }
    guard let seconds = Double(text), seconds > 0, seconds <= 3600 else {
      throw UsageError(message: "CWM_PROFILE_HTTP_TIMEOUT must be a number of seconds (0-3600]")
    }
    return seconds
  }

  func manager() throws(UsageError) -> ProfileManager {
    let total = try httpTimeout()
    let logger = self.logger
    let stores = SecretStores(
      paths: paths, passphrase: EnvironmentOrTerminalPassphrase(), strength: try strength(),
      keyringTimeout: try keyringTimeout(), logger: logger)
    return ProfileManager(
      profiles: ProfileStore(paths: paths), stores: stores,
      engine: ConnectEngine(logger: logger) { profile in
        CurlTransport(
          options: HTTPOptions(
            caFile: profile.caFile, connectTimeout: min(10, total), totalTimeout: total),
          logger: logger)
      })
  }
}
