/// The vocabulary a host program offers to flows: the types their context and payloads may use
/// and the actions they may call, with typed parameters and results.
///
/// The engine knows no domain; validation checks every name in a flow against the catalog, so a
/// flow that asks for something the services do not provide never loads.
public struct Catalog: Sendable {
  /// Types that a flow may name in `context` and `events`, besides the built-in ones.
  public var types: [String: ValueType]
  public var actions: [String: ActionSignature]
  /// Context fields every flow for this host must declare, with their type names.
  public var requiredContext: [(name: String, type: String)]

  public init(
    types: [ValueType] = [], actions: [ActionSignature] = [],
    requiredContext: [(name: String, type: String)] = []
  ) {
    var table: [String: ValueType] = [:]
    for type in Catalog.builtinTypes + types { table[type.name] = type }
    self.types = table
    self.actions = Dictionary(
      actions.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    self.requiredContext = requiredContext
  }

  /// The types every flow may use without a catalog.
  public static let builtinTypes: [ValueType] = [.string, .int, .bool, .duration]

  /// A catalog with only the built-in types and no actions.
  public static let empty = Catalog()
}

/// What an action takes and what it gives back for later guards to read.
public struct ActionSignature: Sendable, Hashable {
  public var name: String
  /// One line, shown in docs and `flowctl` help.
  public var summary: String
  public var parameters: [Parameter]
  /// Fields later guards can read as `actionName.field`; empty when the action returns nothing.
  public var result: [RecordType.Field]

  public struct Parameter: Sendable, Hashable {
    public var name: String
    public var type: ValueType
    public var isRequired: Bool
    public var summary: String
    /// Allowed values of an int (or, in seconds, a duration), checked when the flow gives a
    /// constant or a setting; the services enforce it again at run time.
    public var range: ClosedRange<Int>?

    public init(
      _ name: String, _ type: ValueType, required: Bool = true, summary: String = "",
      range: ClosedRange<Int>? = nil
    ) {
      self.name = name
      self.type = type
      self.isRequired = required
      self.summary = summary
      self.range = range
    }
  }

  public init(
    _ name: String, summary: String, parameters: [Parameter] = [], result: [RecordType.Field] = []
  ) {
    self.name = name
    self.summary = summary
    self.parameters = parameters
    self.result = result
  }

  /// The result as a record type, named after the action, for path resolution.
  public var resultType: RecordType {
    RecordType(name: "\(name) result", fields: result)
  }
}
