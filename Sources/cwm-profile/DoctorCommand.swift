import CWMProfile
import Foundation

/// `cwm-profile doctor`: where secrets can go on this machine and where
/// each profile's are, without prompting, unlocking or changing anything.
enum DoctorCommand {
  static let specs = [
    OptionSpec(name: "json", takesValue: false), OptionSpec(name: "help", takesValue: false),
  ]

  static let help = """
    Usage: cwm-profile doctor [--json]

    Examines the secret stores without prompting, asking for a passphrase,
    unlocking or changing anything: the keyring's state and what to do
    about it, what --store auto would choose now and why, the encrypted
    file (path, permissions, format version, key derivation, generation,
    previous generation) read from its header alone, and which store each
    profile uses. The same state always gives the same output.

    Exits 0 when everything could be examined, even if problems were
    found; 6 or 16 when the profile list or the encrypted file could not
    be read at all.

    Options:
      --json   the same facts as one JSON object
    """

  static func run(_ words: [String], _ context: Context) throws -> ExitCode {
    let arguments = try ParsedArguments(words, specs: specs, command: "doctor")
    if arguments.has("help") {
      Console.out(help + "\n")
      return .success
    }
    try arguments.noPositionals(command: "doctor")
    let timeout = try context.number("CWM_PROFILE_KEYRING_TIMEOUT", 10, 0.1...600)
    let logger = context.logger
    let diagnosis = Diagnosis.examine(paths: context.paths, keyringTimeout: timeout) {
      KeyringSecretStore.probe(timeout: $0, logger: logger)
    }
    Console.out(arguments.has("json") ? DoctorJSON.render(diagnosis) : text(diagnosis))
    // A problem found is a result; only what could not be examined fails.
    if case .fileIO = diagnosis.profileListError {
      throw CommandFailure(
        message: "could not examine everything: \(diagnosis.profileListError!)",
        code: .profileFile)
    }
    if case .unreadable(let detail) = diagnosis.file.header {
      throw CommandFailure(
        message: "could not examine everything: \(diagnosis.file.path): \(detail)",
        code: .secretsFileIO)
    }
    return .success
  }

  static func text(_ diagnosis: Diagnosis) -> String {
    var out = ""
    func line(_ label: String, _ value: String) {
      let lead = "  " + (label + ":").padding(toLength: 16, withPad: " ", startingAt: 0)
      let indent = String(repeating: " ", count: lead.count)
      for (index, part) in wrap(value, width: 80 - lead.count).enumerated() {
        out += (index == 0 ? lead : indent) + part + "\n"
      }
    }
    let keyring = diagnosis.keyring
    out += "Keyring (Secret Service)\n"
    line("state", keyring.state)
    line("meaning", keyring.summary)
    line("what to do", keyring.hint)
    line("timeout", seconds(keyring.timeout))

    out += "\nStore for new profiles (--store auto)\n"
    line("choice", diagnosis.auto.store.map(describe) ?? "none: add would stop with an error")
    line("why", diagnosis.auto.reason)

    let file = diagnosis.file
    out += "\nEncrypted file\n"
    line("path", file.path)
    line("exists", file.exists ? "yes" : "no")
    if file.exists { line("file mode", mode(file.fileMode)) }
    line("folder mode", file.directoryMode == nil ? "no folder yet" : mode(file.directoryMode))
    switch file.header {
    case .missing: break
    case .valid(let header):
      line("format", "version \(header.formatVersion)")
      line(
        "key derivation",
        "Argon2id, \(header.opsLimit) passes over \(header.memoryMiB) MiB ("
          + (header.strength?.rawValue ?? "no named strength") + ")")
      line("generation", "\(header.generation)")
    case .unsupportedVersion(let version):
      line("format", "version \(version), which this cwm-profile cannot read")
    case .damaged(let reason): line("header", "damaged: \(reason)")
    case .unreadable(let detail): line("header", "cannot be read: \(detail)")
    }
    let previousName = file.previousPath.split(separator: "/").last.map(String.init) ?? ""
    line("previous", file.previousExists ? "yes, \(previousName) beside it" : "none")

    out += "\nProfiles\n"
    if let error = diagnosis.profileListError {
      line("error", error.description)
    } else if diagnosis.profiles.isEmpty {
      out += "  none yet\n"
    } else {
      let width = diagnosis.profiles.map(\.name.count).max()! + 2
      for entry in diagnosis.profiles {
        out += "  " + entry.name.padding(toLength: width, withPad: " ", startingAt: 0)
        out += describe(entry.store) + "\n"
      }
    }

    let problems = diagnosis.problems
    out += "\n"
    if problems.isEmpty {
      out += "No problems found.\n"
    } else {
      out += "\(problems.count) problem\(problems.count == 1 ? "" : "s") found:\n"
      for problem in problems {
        out += "  - " + wrap(problem, width: 76).joined(separator: "\n    ") + "\n"
      }
    }
    return out
  }

  /// `text` in lines of at most `width` characters, broken at spaces; a
  /// longer word (a path) gets a line of its own.
  static func wrap(_ text: String, width: Int) -> [String] {
    var lines: [String] = []
    var current = ""
    for word in text.split(separator: " ", omittingEmptySubsequences: true) {
      if current.isEmpty {
        current = String(word)
      } else if current.count + 1 + word.count <= width {
        current += " " + word
      } else {
        lines.append(current)
        current = String(word)
      }
    }
    return lines + [current]
  }

  static func describe(_ kind: StoreKind) -> String {
    switch kind {
    case .keyring: return "keyring"
    case .file: return "encrypted file"
    case .memory: return "memory"
    }
  }

  /// A mode in octal with whether it is safe, or why it is not known.
  static func mode(_ mode: UInt32?) -> String {
    guard let mode else { return "cannot be examined" }
    let safe = EncryptedFileInspection.isOwnerOnly(mode)
    return EncryptedFileInspection.octal(mode)
      + (safe ? " (owner only: safe)" : " (others have access: unsafe)")
  }

  static func seconds(_ value: Double) -> String {
    value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
  }
}

/// `doctor --json`: the diagnosis as one object with the keys that
/// `docs/commands.md` lists; absent facts are `null`, never left out.
enum DoctorJSON {
  static func render(_ diagnosis: Diagnosis) -> String {
    let object: [String: Any] = [
      "keyring": [
        "state": diagnosis.keyring.state, "summary": diagnosis.keyring.summary,
        "hint": diagnosis.keyring.hint, "timeoutSeconds": number(diagnosis.keyring.timeout),
      ],
      "auto": [
        "store": nullable(diagnosis.auto.store?.rawValue), "reason": diagnosis.auto.reason,
      ],
      "file": file(diagnosis.file),
      "profiles": diagnosis.profiles.map { entry -> [String: Any] in
        ["name": entry.name, "store": entry.store.rawValue, "problem": nullable(entry.problem)]
      },
      "profileListError": nullable(diagnosis.profileListError?.description),
      "problems": diagnosis.problems,
    ]
    let data =
      (try? JSONSerialization.data(
        withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
      ?? Data()
    return String(decoding: data, as: UTF8.self) + "\n"
  }

  static func file(_ file: EncryptedFileInspection) -> [String: Any] {
    var header: [String: Any] = [
      "formatVersion": NSNull(), "kdf": NSNull(), "generation": NSNull(),
      "headerProblem": NSNull(),
    ]
    switch file.header {
    case .missing: header["header"] = "missing"
    case .valid(let found):
      header["header"] = "valid"
      header["formatVersion"] = found.formatVersion
      header["generation"] = Int(found.generation)
      header["kdf"] = [
        "algorithm": "argon2id", "opsLimit": Int(found.opsLimit),
        "memoryKiB": Int(found.memoryKiB), "memoryMiB": Int(found.memoryMiB),
        "strength": nullable(found.strength?.rawValue),
      ]
    case .unsupportedVersion(let version):
      header["header"] = "unsupported-version"
      header["formatVersion"] = version
    case .damaged(let reason):
      header["header"] = "damaged"
      header["headerProblem"] = reason
    case .unreadable(let detail):
      header["header"] = "unreadable"
      header["headerProblem"] = detail
    }
    let modes: [String: Any] = [
      "path": file.path, "exists": file.exists,
      "mode": nullable(file.fileMode.map(EncryptedFileInspection.octal)),
      "modeSafe": nullable(file.fileMode.map(EncryptedFileInspection.isOwnerOnly)),
      "folder": file.directory,
      "folderMode": nullable(file.directoryMode.map(EncryptedFileInspection.octal)),
      "folderModeSafe": nullable(file.directoryMode.map(EncryptedFileInspection.isOwnerOnly)),
      "previousPath": file.previousPath, "previousExists": file.previousExists,
    ]
    return header.merging(modes) { first, _ in first }
  }

  static func nullable(_ value: Any?) -> Any { value ?? NSNull() }

  /// A whole number of seconds as an integer, so `10` never prints as `10.0`.
  static func number(_ value: Double) -> Any {
    value == value.rounded() && abs(value) < 1e9 ? Int(value) : value
  }
}
