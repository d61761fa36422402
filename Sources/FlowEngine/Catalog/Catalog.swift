/// The vocabulary a host program offers to flows: the types their context and payloads may use
/// and the actions they may call, with typed parameters and results.
///
/// The engine knows no domain; validation checks every name in a flow against the catalog, so a
/// flow that asks for something the services do not provide never loads.
public struct Catalog: Sendable {
  /// Types that a flow may name in `context` and `events`, besides the built-in ones.
  public var types: [String: ValueType]
  public var actions: [String: ActionSignature]
  /// The actions' names in the order the host listed them (for references and listings).
  public var actionOrder: [String]
  /// Context fields every flow for this host must declare, with their type names.
  public var requiredContext: [(name: String, type: String)]
  /// How values of the catalog's scalar types are read, checked and shown.
  public var scalars: [String: ScalarRules]
  /// Scalar types that also take values of other scalar types: a `destination` argument takes
  /// a `phone` or an `email`.
  public var scalarUnions: [String: Set<String>]
  /// The messages the services send, which a flow may word its own way (`messages:`).
  public var messages: MessageCatalog

  public init(
    types: [ValueType] = [], actions: [ActionSignature] = [],
    requiredContext: [(name: String, type: String)] = [], scalars: [String: ScalarRules] = [:],
    scalarUnions: [String: Set<String>] = [:], messages: MessageCatalog = MessageCatalog()
  ) {
    self.scalars = scalars
    self.scalarUnions = scalarUnions
    self.messages = messages
    var table: [String: ValueType] = [:]
    for type in Catalog.builtinTypes + types { table[type.name] = type }
    self.types = table
    self.actions = Dictionary(
      actions.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    self.actionOrder = actions.map(\.name)
    self.requiredContext = requiredContext
  }

  /// The types every flow may use without a catalog.
  public static let builtinTypes: [ValueType] = [.string, .int, .bool, .duration]

  /// A catalog with only the built-in types and no actions.
  public static let empty = Catalog()

  /// True when a value of type `actual` may be given where `wanted` is expected.
  public func accepts(_ wanted: ValueType, _ actual: ValueType) -> Bool {
    if wanted == actual { return true }
    if case .scalar(let union) = wanted, case .scalar(let member) = actual {
      return scalarUnions[union]?.contains(member) ?? false
    }
    return false
  }

  /// A value as it may appear in traces, errors and logs: secrets hidden, numbers masked.
  public func display(_ value: Value, as type: ValueType) -> String {
    if case .scalar(let name) = type, let rules = scalars[name], case .string(let text) = value {
      return rules.display(text)
    }
    if case .string(let text) = value { return text }
    return value.description
  }
}

/// The rules of one scalar type of a catalog (a phone number, a verification code).
public struct ScalarRules: Sendable {
  /// Reads text into its canonical form, or says what is wrong with it (without echoing it
  /// when the type is secret).
  public var parse: @Sendable (String) -> Result<String, ScalarError>
  /// How the value is shown outside the service that owns it (masked, or hidden entirely).
  public var display: @Sendable (String) -> String
  /// True for values that must never be shown (verification codes).
  public var isSecret: Bool

  public init(
    isSecret: Bool = false, parse: @escaping @Sendable (String) -> Result<String, ScalarError>,
    display: @escaping @Sendable (String) -> String
  ) {
    self.isSecret = isSecret
    self.parse = parse
    self.display = display
  }
}

/// Why a text is not a valid value of a scalar type, in words for the person who typed it.
public struct ScalarError: Error, Sendable, Hashable {
  public var message: String

  public init(_ message: String) {
    self.message = message
  }
}

/// What an action takes and what it gives back for later guards to read.
public struct ActionSignature: Sendable, Hashable {
  public var name: String
  /// One line, shown in docs and `flowctl` help.
  public var summary: String
  public var parameters: [Parameter]
  /// Fields later guards can read as `actionName.field`; empty when the action returns nothing.
  public var result: [RecordType.Field]
  /// True when the results describe only the step that performed the action (a verification's
  /// `ok`): they read as their zero values again from the next step on, so a later state can
  /// never act on an earlier step's verdict.
  public var resultsLastOneStep: Bool
  /// Result fields added after sessions were first stored, with the session format that
  /// introduced them: a session stored in an older format reads them as their zero values.
  public var resultsSince: [String: Int]
  /// True when the action never changes a fact a flow reads (the directory's users): the
  /// engine then need not read the facts again after it.
  public var leavesFactsAlone: Bool
  /// A rule over the call's arguments as written, which the validator applies to every call
  /// (a code for some purposes may go only to a destination on file).
  public var rule: ActionRule?

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
    _ name: String, summary: String, parameters: [Parameter] = [], result: [RecordType.Field] = [],
    resultsLastOneStep: Bool = false, resultsSince: [String: Int] = [:],
    leavesFactsAlone: Bool = false, rule: ActionRule? = nil
  ) {
    self.leavesFactsAlone = leavesFactsAlone
    self.rule = rule
    self.name = name
    self.summary = summary
    self.parameters = parameters
    self.result = result
    self.resultsLastOneStep = resultsLastOneStep
    self.resultsSince = resultsSince
  }

  /// The result as a record type, named after the action, for path resolution.
  public var resultType: RecordType {
    RecordType(name: "\(name) result", fields: result)
  }
}

/// A catalog's rule over one action call as written in a flow: it sees each argument's text
/// and, for a path, its parts, and says what is wrong, naming the argument to point at.
public struct ActionRule: Sendable, Hashable {
  /// An argument as written: `target.phone` has the parts `["target", "phone"]`; a literal or
  /// quoted text has none.
  public struct Argument: Sendable, Hashable {
    public var text: String
    public var path: [String]?
  }

  /// One broken rule: the argument it is about (nil: the call as a whole) and why.
  public struct Violation: Sendable, Hashable {
    public var argument: String?
    public var message: String

    public init(argument: String?, _ message: String) {
      self.argument = argument
      self.message = message
    }
  }

  public let check: @Sendable ([String: Argument]) -> [Violation]

  public init(_ check: @escaping @Sendable ([String: Argument]) -> [Violation]) {
    self.check = check
  }

  // Rules compare equal: a signature's identity is its name, parameters and results.
  public static func == (lhs: ActionRule, rhs: ActionRule) -> Bool { true }
  public func hash(into hasher: inout Hasher) {}
}
