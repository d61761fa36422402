/// The type of a context field, payload field, action parameter or result, or guard expression.
///
/// The engine knows the primitive types; a host's catalog adds enumerations (`role`), opaque
/// scalars with their own validation (`phone`, `code`) and records (`user`).
public indirect enum ValueType: Sendable, Hashable, CustomStringConvertible {
  case string
  case int
  case bool
  case duration
  /// A closed set of names, such as roles; compared with string literals that must be a case.
  case enumeration(name: String, cases: [String])
  /// A string with a meaning of its own (a phone number, a code); compared only with its kind.
  case scalar(name: String)
  /// A value with named fields, reached with dotted paths: `actor.twoFactor.enabled`.
  case record(RecordType)

  public var description: String {
    switch self {
    case .string: "string"
    case .int: "int"
    case .bool: "bool"
    case .duration: "duration"
    case .enumeration(let name, _): name
    case .scalar(let name): name
    case .record(let record): record.name
    }
  }

  /// The name used in flow files for this type.
  public var name: String { description }

  /// True for types that `<`, `<=`, `>` and `>=` apply to.
  public var isOrdered: Bool {
    self == .int || self == .duration
  }
}

/// A record type published by a catalog: a name and its fields in a stable order.
public struct RecordType: Sendable, Hashable {
  public var name: String
  public var fields: [Field]

  public struct Field: Sendable, Hashable {
    public var name: String
    public var type: ValueType
    public var summary: String

    public init(_ name: String, _ type: ValueType, summary: String = "") {
      self.name = name
      self.type = type
      self.summary = summary
    }
  }

  public init(name: String, fields: [Field]) {
    self.name = name
    self.fields = fields
  }

  public func field(named name: String) -> Field? {
    fields.first { $0.name == name }
  }
}
