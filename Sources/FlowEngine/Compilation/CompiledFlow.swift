/// A validated flow turned into tables: states, events and values interned to integers,
/// transitions indexed by state and event, guards compiled once into expression trees over
/// value slots. A step does no string parsing and no look-up by name.
public struct CompiledFlow: Sendable {
  public let id: String
  public let version: Int
  public let title: String
  /// SHA-256 of the flow file's bytes, so a session can tell which text it started on.
  public let contentHash: String
  /// The bytes of the flow file, which a store keeps so sessions run on the text they began on.
  public let sourceBytes: [UInt8]
  public let catalog: Catalog
  /// The definition it was compiled from, for diagrams and analysis.
  public let definition: FlowDefinition

  public let states: [CompiledState]
  public let stateIndex: [String: Int]
  public let start: Int
  public let events: [CompiledEvent]
  public let eventIndex: [String: Int]
  /// Every value a session holds: context facts (flattened, `actor.role`) and action results
  /// (`verifyCode.ok`), in a fixed order.
  public let slots: [Slot]
  public let slotIndex: [String: Int]
  /// Payload fields by name across all events (a name has one type in a flow).
  public let payloadFields: [PayloadSlot]
  public let payloadIndex: [String: Int]
  /// The declared context fields with their types, in file order.
  public let context: [(name: String, type: ValueType)]
  /// The flow's `checks:`, ready for the path explorer.
  public let checks: [CompiledCheck]
  /// The flow's `deadline`: from any state that is not final, this long after the start.
  public let deadline: CompiledTimer?
  /// The wording of the services' messages: the flow's `messages:` over the catalog's.
  public let messages: FlowMessages

  public struct Slot: Sendable {
    public enum Kind: Sendable, Hashable {
      /// Read from the host when the session starts.
      case fact
      /// Written by an action; starts at its type's zero value.
      case result
    }

    public var name: String
    public var type: ValueType
    public var kind: Kind
    /// The session format that introduced this result (older sessions read it as zero).
    public var since = 0
  }

  public struct PayloadSlot: Sendable {
    public var name: String
    public var type: ValueType
  }
}

extension CompiledState {
  /// Every transition out of the state: its events', its `always` and its timers'.
  public var allTransitions: [CompiledTransition] {
    Array(handlers.joined()) + always + timers.map(\.transition)
  }
}

extension CompiledFlow {
  /// How long a session of this flow lives, in seconds: the `deadline` when the flow declares
  /// one, else `settings.sessionMaxAge` when the flow sets it to a duration, else
  /// `Session.defaultMaxAge` (an hour).
  public var sessionMaxAge: Int {
    if let deadline { return deadline.seconds }
    for setting in definition.settings where setting.name.value == "sessionMaxAge" {
      if case .duration(let seconds) = setting.value.value, seconds > 0 { return seconds }
    }
    return Session.defaultMaxAge
  }

  /// Every value slot some condition, check or action argument reads.
  public var slotsRead: [Int] {
    var slots: Set<Int> = []
    func collect(_ expression: CompiledExpression) {
      switch expression {
      case .read(.slot(let slot)): slots.insert(slot)
      case .read(.payload), .constant: break
      case .not(let operand), .member(let operand, _): collect(operand)
      case .and(let lhs, let rhs), .or(let lhs, let rhs), .compare(_, let lhs, let rhs):
        collect(lhs)
        collect(rhs)
      }
    }
    func collect(_ transition: CompiledTransition) {
      if let condition = transition.condition { collect(condition.expression) }
      for action in transition.actions {
        for argument in action.arguments { collect(argument.value) }
      }
    }
    for state in states {
      for transition in state.allTransitions { collect(transition) }
    }
    if let deadline { collect(deadline.transition) }
    for check in checks {
      switch check.kind {
      case .reachesWhen(_, let condition), .performsWhen(_, let condition),
        .holdsIn(_, let condition), .canReach(_, .some(let condition)):
        collect(condition.expression)
      default: break
      }
    }
    return slots.sorted()
  }
}

extension CompiledFlow: CustomStringConvertible {
  public var description: String {
    "\(id) v\(version) (\(states.count) states, \(events.count) events, \(contentHash.prefix(12)))"
  }
}

/// A property to prove over every path (see `CheckDefinition`).
public struct CompiledCheck: Sendable {
  public enum Kind: Sendable {
    case reachesVia(state: Int, via: Int)
    case reachesWhen(state: Int, condition: CompiledCondition)
    case performsWhen(action: String, condition: CompiledCondition)
    /// Whenever `state` is entered, `condition` holds on the facts as they are then.
    case holdsIn(state: Int, condition: CompiledCondition)
    /// Some path from a start whose facts satisfy `when` reaches `state`.
    case canReach(state: Int, when: CompiledCondition?)
    case finalReachable
    case noDeadEnds
  }

  public let name: String
  public let kind: Kind
  public let location: SourceLocation
}

public struct CompiledState: Sendable {
  public let name: String
  public let isFinal: Bool
  public let outcome: String?
  public let description: String?
  /// Indexed by event id; empty when the state does not accept that event.
  public let handlers: [[CompiledTransition]]
  public let always: [CompiledTransition]
  /// The events this state accepts, by name, sorted: what a rejection lists.
  public let acceptedEvents: [String]
  /// The `after` entries, in file order.
  public let timers: [CompiledTimer]
  /// The timers grouped by delay, shortest first: when a group falls due, its entries are
  /// tried in file order and the first whose `when` holds is taken (like `always`).
  public let timerGroups: [(seconds: Int, timers: [Int])]

  init(
    name: String, isFinal: Bool, outcome: String?, description: String?,
    handlers: [[CompiledTransition]], always: [CompiledTransition], acceptedEvents: [String],
    timers: [CompiledTimer]
  ) {
    self.name = name
    self.isFinal = isFinal
    self.outcome = outcome
    self.description = description
    self.handlers = handlers
    self.always = always
    self.acceptedEvents = acceptedEvents
    self.timers = timers
    var groups: [(seconds: Int, timers: [Int])] = []
    for seconds in Set(timers.map(\.seconds)).sorted() {
      groups.append((seconds, timers.indices.filter { timers[$0].seconds == seconds }))
    }
    self.timerGroups = groups
  }
}

/// A transition taken when time passes: an `after` entry, or the flow's deadline.
public struct CompiledTimer: Sendable {
  public let seconds: Int
  /// Position in the state's `after` list (0 for the deadline).
  public let index: Int
  public let transition: CompiledTransition

  /// `after 15m`, as traces and diagrams show it.
  public var label: String { "after \(Value.format(duration: seconds))" }
}

public struct CompiledEvent: Sendable {
  public let name: String
  /// Declared payload fields: name, type, and the global payload slot.
  public let fields: [(name: String, type: ValueType, slot: Int)]
}

public struct CompiledTransition: Sendable {
  public let target: Int
  public let condition: CompiledCondition?
  public let actions: [CompiledAction]
  public let description: String?
  public let location: SourceLocation
  /// Declared `unreachable: true`: the checker proves no path takes it.
  public var isUnreachable = false
}

/// A transition's `when`, compiled, with what a trace needs to explain it.
public struct CompiledCondition: Sendable {
  public let expression: CompiledExpression
  /// The condition as written in the flow.
  public let text: String
  /// The values it reads, for "the values it saw" in traces and rejections.
  public let inputs: [Operand]
  /// The named guards it uses, directly or through other guards.
  public let guards: [(name: String, expression: CompiledExpression)]
}

public struct CompiledAction: Sendable {
  public let name: String
  public let arguments: [(name: String, value: CompiledExpression)]
  /// Result fields and the slots they are written to.
  public let results: [(field: String, slot: Int)]
}

/// Where an expression reads a value from.
public enum Operand: Sendable, Hashable {
  case slot(Int)
  case payload(Int)
}

/// A guard or argument expression over slots, ready to evaluate.
public indirect enum CompiledExpression: Sendable {
  case constant(Value)
  case read(Operand)
  case not(CompiledExpression)
  case and(CompiledExpression, CompiledExpression)
  case or(CompiledExpression, CompiledExpression)
  case compare(ComparisonOperator, CompiledExpression, CompiledExpression)
  case member(CompiledExpression, [Value])
}
