import CWMProfile

/// The process exit status for every failure, one per cause, so scripts
/// can react without parsing messages. `docs/commands.md` lists them.
enum ExitCode: Int32 {
  case success = 0
  case internalError = 1
  case usage = 2
  case profileNotFound = 3
  case profileExists = 4
  case invalidValue = 5
  case profileFile = 6
  case profileChanged = 7

  case passphraseUnavailable = 10
  case passphraseRejected = 11
  case wrongPassphrase = 12
  case secretsFileDamaged = 13
  case secretsFileVersion = 14
  case insecurePermissions = 15
  case secretsFileIO = 16
  case secretsFileMissing = 17
  case passphraseSourceUnreadable = 18

  case noSessionBus = 20
  case noSecretService = 21
  case noDefaultCollection = 22
  case keyringLocked = 23
  case keyringTimeout = 24
  case promptDismissed = 25
  case keyringFailed = 26
  case secretMissing = 27

  case unknownCompany = 30
  case unexpectedResponse = 31
  case authenticationFailed = 32
  case forbidden = 33
  case apiNotFound = 34
  case apiError = 35
  case unknownMember = 36
  case impersonationDenied = 37
  case loginRefused = 38

  case couldNotResolve = 40
  case connectionRefused = 41
  case timedOut = 42
  case tlsFailure = 43
  case redirectRefused = 44
  case connectionLost = 45
  case caFileUnreadable = 46

  case commandNotExecutable = 126
  case commandNotFound = 127

  /// The exit code for an error thrown by the library.
  static func of(_ error: Error) -> ExitCode {
    switch error {
    case is UsageError: return .usage
    case let failure as CommandFailure: return failure.code
    case let error as ProfileError: return of(error)
    case let error as SecretStoreError: return of(error)
    case let error as ConnectError: return of(error)
    case let error as HTTPError: return of(error)
    default: return .internalError
    }
  }

  static func of(_ error: ProfileError) -> ExitCode {
    switch error {
    case .notFound: return .profileNotFound
    case .alreadyExists: return .profileExists
    case .invalidName, .invalidValue: return .invalidValue
    case .fileDamaged, .fileIO: return .profileFile
    case .changedMeanwhile: return .profileChanged
    }
  }

  static func of(_ error: SecretStoreError) -> ExitCode {
    switch error {
    case .noSessionBus: return .noSessionBus
    case .noSecretService: return .noSecretService
    case .noDefaultCollection: return .noDefaultCollection
    case .keyringLocked: return .keyringLocked
    case .keyringTimeout: return .keyringTimeout
    case .promptDismissed: return .promptDismissed
    case .keyringFailed: return .keyringFailed
    case .passphraseUnavailable: return .passphraseUnavailable
    case .passphraseRejected: return .passphraseRejected
    case .wrongPassphrase: return .wrongPassphrase
    case .fileCorrupted: return .secretsFileDamaged
    case .unsupportedFileVersion: return .secretsFileVersion
    case .insecurePermissions: return .insecurePermissions
    case .fileIO: return .secretsFileIO
    case .fileMissing, .noPreviousGeneration: return .secretsFileMissing
    case .passphraseSourceUnreadable: return .passphraseSourceUnreadable
    }
  }

  static func of(_ error: ConnectError) -> ExitCode {
    switch error {
    case .unknownCompany: return .unknownCompany
    case .unexpectedResponse: return .unexpectedResponse
    case .authenticationFailed: return .authenticationFailed
    case .forbidden: return .forbidden
    case .notFound: return .apiNotFound
    case .apiError: return .apiError
    case .transport(let error): return of(error)
    case .secretMissing: return .secretMissing
    case .store(let error): return of(error)
    case .invalidProfile: return .invalidValue
    case .invalidPath: return .usage
    case .unknownMember: return .unknownMember
    case .impersonationDenied: return .impersonationDenied
    case .loginRefused: return .loginRefused
    }
  }

  static func of(_ error: HTTPError) -> ExitCode {
    switch error {
    case .invalidURL: return .invalidValue
    case .couldNotResolve: return .couldNotResolve
    case .connectionRefused: return .connectionRefused
    case .timedOut: return .timedOut
    case .tlsFailure: return .tlsFailure
    case .caFileUnreadable: return .caFileUnreadable
    case .redirectRefused, .tooManyRedirects: return .redirectRefused
    case .connectionLost, .transport: return .connectionLost
    }
  }
}

/// A failure the command itself detects, with its message and exit code.
struct CommandFailure: Error {
  var message: String
  var code: ExitCode
}
