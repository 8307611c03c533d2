import CWMProfile
import Foundation

/// What every command needs, built from the environment and the global
/// options.
struct Context {
  let environment: [String: String]
  let verbose: Bool
  let logger: Logger
  let paths: Paths
  let passphrase: PassphraseOptions

  init(environment: [String: String], verbose: Bool, passphrase: PassphraseOptions = .init()) {
    self.environment = environment
    self.verbose = verbose
    self.passphrase = passphrase
    self.logger = Console.logger(verbose: verbose)
    self.paths = Paths(environment: environment)
  }

  /// A number from the environment, within `range`, or `fallback` when unset.
  func number(_ variable: String, _ fallback: Double, _ range: ClosedRange<Double>)
    throws(CommandFailure) -> Double
  {
    guard let text = environment[variable] else { return fallback }
    guard let value = Double(text), range.contains(value) else {
      throw CommandFailure(
        message: "\(variable) must be a number from \(format(range.lowerBound)) "
          + "to \(format(range.upperBound)), not '\(text)'",
        code: .usage)
    }
    return value
  }

  private func format(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
  }

  /// The encrypted file's passphrase, from the options, systemd's
  /// credentials, `CWM_PROFILE_PASSPHRASE` or the terminal.
  func passphraseSource() -> StandardPassphrase {
    StandardPassphrase(
      .init(
        fileDescriptor: passphrase.fileDescriptor, file: passphrase.file,
        credentialsDirectory: environment["CREDENTIALS_DIRECTORY"]))
  }

  /// The work factor for a new encrypted file (`CWM_PROFILE_KDF`).
  func strength() throws(CommandFailure) -> KeyDerivationStrength {
    guard let text = environment["CWM_PROFILE_KDF"] else { return .interactive }
    guard let strength = KeyDerivationStrength(rawValue: text) else {
      let names = KeyDerivationStrength.allCases.map(\.rawValue).joined(separator: ", ")
      throw CommandFailure(
        message: "CWM_PROFILE_KDF must be one of \(names), not '\(text)'", code: .usage)
    }
    return strength
  }

  /// The retry policy from `CWM_PROFILE_RETRIES` and `CWM_PROFILE_RETRY_DELAY`.
  func retryPolicy() throws(CommandFailure) -> RetryPolicy {
    let retries = try number("CWM_PROFILE_RETRIES", 3, 0...10)
    let delay = try number("CWM_PROFILE_RETRY_DELAY", 1, 0...60)
    return RetryPolicy(maxAttempts: Int(retries) + 1, baseDelay: delay)
  }

  func manager() throws(CommandFailure) -> ProfileManager {
    let total = try number("CWM_PROFILE_HTTP_TIMEOUT", 60, 0.1...3600)
    let policy = try retryPolicy()
    let logger = self.logger
    let stores = SecretStores(
      paths: paths, passphrase: passphraseSource(), strength: try strength(),
      keyringTimeout: try number("CWM_PROFILE_KEYRING_TIMEOUT", 10, 0.1...600), logger: logger)
    let engine = ConnectEngine(logger: logger) { profile in
      RetryingTransport(
        CurlTransport(
          options: HTTPOptions(
            caFile: profile.caFile, connectTimeout: min(10, total), totalTimeout: total),
          logger: logger),
        policy: policy, logger: logger)
    }
    return ProfileManager(
      profiles: ProfileStore(paths: paths), stores: stores, engine: engine,
      cache: ConnectionCache(
        paths: paths, lifetime: try number("CWM_PROFILE_CACHE_TTL", 3600, 0...86400 * 30)))
  }
}
