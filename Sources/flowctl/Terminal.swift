#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Decides whether output gets ANSI color: only on a terminal, and never when NO_COLOR is set.
enum Terminal {
  /// Standard output's descriptor.
  static let standardOutput: Int32 = 1
  static let standardError: Int32 = 2
  static let standardInput: Int32 = 0

  static func writeError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(standardError, $0.baseAddress, $0.count) }
  }

  /// Flushes standard output (and every other stream) so prompts and traces appear at once.
  static func flush() {
    fflush(nil)
  }

  static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }

  static func colorEnabled(for descriptor: Int32) -> Bool {
    if let noColor = getenv("NO_COLOR"), noColor.pointee != 0 { return false }
    return isatty(descriptor) == 1
  }
}
