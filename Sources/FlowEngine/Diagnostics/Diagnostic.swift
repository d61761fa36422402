/// One problem found in a file: what, where, and how bad.
public struct Diagnostic: Sendable, Hashable, Error {
  public enum Severity: String, Sendable, Hashable, Codable {
    case error
    case warning
  }

  public var code: DiagnosticCode
  public var message: String
  public var location: SourceLocation
  /// How many columns the caret underline covers (at least 1).
  public var length: Int

  public var severity: Severity { code.severity }

  public init(
    _ code: DiagnosticCode, _ message: String, at location: SourceLocation, length: Int = 1
  ) {
    self.code = code
    self.message = message
    self.location = location
    self.length = max(1, length)
  }
}

extension [Diagnostic] {
  /// True when any diagnostic is an error (warnings alone let a flow load).
  public var hasErrors: Bool { contains { $0.severity == .error } }

  /// Sorted by position so a reader goes through the file once, top to bottom.
  public func sortedByLocation() -> [Diagnostic] {
    enumerated().sorted {
      ($0.element.location, $0.offset) < ($1.element.location, $1.offset)
    }.map(\.element)
  }
}
