import Foundation

/// Makes a fresh, empty directory (mode 700) under the system's temporary
/// directory. The caller removes it.
public func makeTemporaryDirectory(prefix: String = "cwm-profile-test") throws -> URL {
  let template = FileManager.default.temporaryDirectory
    .appendingPathComponent("\(prefix).XXXXXX").path
  var bytes = Array(template.utf8CString)
  let made = bytes.withUnsafeMutableBufferPointer { buffer -> String? in
    mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
  }
  guard let made else {
    throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: template])
  }
  return URL(fileURLWithPath: made, isDirectory: true)
}
