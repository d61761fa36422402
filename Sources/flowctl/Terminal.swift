#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Decides whether output gets ANSI color: only on a terminal, and never when NO_COLOR is set.
enum Terminal {
  /// Standard output's descriptor.
  static let standardOutput: Int32 = 1

  static func colorEnabled(for descriptor: Int32) -> Bool {
    if let noColor = getenv("NO_COLOR"), noColor.pointee != 0 { return false }
    return isatty(descriptor) == 1
  }
}
