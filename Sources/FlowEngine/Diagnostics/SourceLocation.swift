/// A position in a source file, 1-based, counted in Unicode scalars as editors show columns.
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
  public var line: Int
  public var column: Int

  public init(line: Int, column: Int) {
    self.line = line
    self.column = column
  }

  /// The location `offset` scalars to the right on the same line.
  public func advanced(by offset: Int) -> SourceLocation {
    SourceLocation(line: line, column: column + offset)
  }

  public static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
    (lhs.line, lhs.column) < (rhs.line, rhs.column)
  }

  public var description: String { "\(line):\(column)" }
}

/// A value together with where a person wrote it, so that every later diagnostic can point at it.
public struct Located<Value: Sendable>: Sendable {
  public var value: Value
  public var location: SourceLocation

  public init(_ value: Value, at location: SourceLocation) {
    self.value = value
    self.location = location
  }
}

extension Located: Equatable where Value: Equatable {}
extension Located: Hashable where Value: Hashable {}
