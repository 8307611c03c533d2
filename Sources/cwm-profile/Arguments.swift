/// A command-line mistake: unknown option, missing value, missing argument.
struct UsageError: Error {
  var message: String
  /// The command whose help the user should read.
  var command: String?
}

/// One option a command accepts.
struct OptionSpec {
  var name: String
  /// Whether it takes a value (`--server HOST`) or is a flag (`--force`).
  var takesValue: Bool
  /// Whether it may be given more than once (`--query K=V --query K=V`).
  var repeatable = false
}

/// The words of a command line, sorted into options and positionals.
struct ParsedArguments {
  var positionals: [String] = []
  var values: [String: String] = [:]
  var repeated: [String: [String]] = [:]
  var flags: Set<String> = []
  /// Whether `--` ended the options; the words after it are positionals.
  var sawTerminator = false
  /// How many positionals came before `--`.
  var positionalsBeforeTerminator = 0

  func value(_ name: String) -> String? { values[name] }
  func all(_ name: String) -> [String] { repeated[name] ?? [] }
  func has(_ name: String) -> Bool { flags.contains(name) }

  /// Parses `words` against `specs`. Accepts `--name value`, `--name=value`
  /// and `--` to end options; an option given twice is an error, so a
  /// script never silently uses the wrong one.
  init(_ words: [String], specs: [OptionSpec], command: String) throws(UsageError) {
    var index = 0
    var optionsEnded = false
    while index < words.count {
      let word = words[index]
      index += 1
      if optionsEnded || !word.hasPrefix("-") || word == "-" {
        positionals.append(word)
        continue
      }
      if word == "--" {
        optionsEnded = true
        sawTerminator = true
        positionalsBeforeTerminator = positionals.count
        continue
      }
      if word == "-h" {
        flags.insert("help")
        continue
      }
      guard word.hasPrefix("--") else {
        throw UsageError(message: "unknown option '\(word)'", command: command)
      }
      var name = String(word.dropFirst(2))
      var inlineValue: String?
      if let equals = name.firstIndex(of: "=") {
        inlineValue = String(name[name.index(after: equals)...])
        name = String(name[..<equals])
      }
      guard let spec = specs.first(where: { $0.name == name }) else {
        throw UsageError(message: "unknown option '--\(name)'", command: command)
      }
      guard spec.repeatable || (values[name] == nil && !flags.contains(name)) else {
        throw UsageError(message: "option '--\(name)' given twice", command: command)
      }
      if spec.takesValue {
        let value: String
        if let inlineValue {
          value = inlineValue
        } else {
          // A value that looks like an option is a forgotten value, not a
          // value: `--server --company acme`. `--server=--x` still works.
          guard index < words.count, !words[index].hasPrefix("--") else {
            throw UsageError(message: "option '--\(name)' needs a value", command: command)
          }
          value = words[index]
          index += 1
        }
        if spec.repeatable {
          repeated[name, default: []].append(value)
        } else {
          values[name] = value
        }
      } else {
        guard inlineValue == nil else {
          throw UsageError(message: "option '--\(name)' takes no value", command: command)
        }
        flags.insert(name)
      }
    }
  }

  /// The single positional argument, usually a profile name.
  func onePositional(_ what: String, command: String) throws(UsageError) -> String {
    guard let first = positionals.first else {
      throw UsageError(message: "missing \(what)", command: command)
    }
    guard positionals.count == 1 else {
      throw UsageError(message: "unexpected argument '\(positionals[1])'", command: command)
    }
    return first
  }

  func noPositionals(command: String) throws(UsageError) {
    if let first = positionals.first {
      throw UsageError(message: "unexpected argument '\(first)'", command: command)
    }
  }
}

/// Where the encrypted file's passphrase comes from when not from the
/// environment or the terminal. Accepted anywhere before a `--`, so both
/// `cwm-profile --passphrase-fd 3 add ...` and `... add --passphrase-fd 3`
/// work.
struct PassphraseOptions {
  var fileDescriptor: Int32?
  var file: String?

  static let names = ["passphrase-fd", "passphrase-file"]

  /// Removes the passphrase options from `words` and returns them.
  static func extract(from words: inout [String]) throws(UsageError) -> PassphraseOptions {
    var options = PassphraseOptions()
    var kept: [String] = []
    var index = 0
    while index < words.count {
      let word = words[index]
      index += 1
      if word == "--" {
        kept += words[(index - 1)...]
        break
      }
      guard word.hasPrefix("--"),
        let name = names.first(where: { word == "--" + $0 || word.hasPrefix("--\($0)=") })
      else {
        kept.append(word)
        continue
      }
      var value: String
      if let equals = word.firstIndex(of: "=") {
        value = String(word[word.index(after: equals)...])
      } else {
        guard index < words.count else {
          throw UsageError(message: "option '--\(name)' needs a value")
        }
        value = words[index]
        index += 1
      }
      try options.set(name, value)
    }
    words = kept
    return options
  }

  /// Records one `--…passphrase-fd N` or `--…passphrase-file PATH` option
  /// (`name` without the dashes; `change-passphrase` has `new-` ones).
  mutating func set(_ name: String, _ value: String) throws(UsageError) {
    let stem = name.hasSuffix("-file") ? name.dropLast(5) : name.dropLast(3)
    guard fileDescriptor == nil, file == nil else {
      throw UsageError(message: "give one of --\(stem)-fd and --\(stem)-file, once")
    }
    if name.hasSuffix("-file") {
      guard !value.isEmpty else { throw UsageError(message: "--\(name) needs a path") }
      file = value
      return
    }
    guard let fd = Int32(value), fd >= 0 else {
      throw UsageError(message: "--\(name) needs a descriptor number, such as 3")
    }
    fileDescriptor = fd
  }
}
