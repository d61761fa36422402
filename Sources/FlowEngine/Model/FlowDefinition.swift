/// A flow as written: plain values, each carrying where it was written.
///
/// This is what the loader produces and the validator checks. Names stay strings here; the
/// compiled form (interned ids, tables) comes later and is built only from a valid definition.
public struct FlowDefinition: Sendable {
  public var id: Located<String>
  public var version: Located<Int>
  public var title: Located<String>
  public var description: String?
  public var context: [ContextField]
  public var settings: [Setting]
  public var guards: [GuardDefinition]
  public var events: [EventDefinition]
  public var start: Located<String>
  public var states: [StateDefinition]
  /// Where the top-level mapping begins; used for problems that belong to the file as a whole.
  public var location: SourceLocation
  /// Where the `context` section begins, if there is one.
  public var contextLocation: SourceLocation?
  /// Properties proven over every path by `flowctl check` (and `validate`).
  public var checks: [CheckDefinition]
  /// `deadline: { in: 1h, to: expired }`: the whole session, in any non-final state, ends this
  /// long after it started (instead of the engine's fixed maximum age).
  public var deadline: TimerDefinition?
  /// `messages:`: the flow's own wording of the services' messages, each template with where
  /// it was written.
  public var messages: [MessageDefinition] = []

  public init(
    id: Located<String>, version: Located<Int>, title: Located<String>, description: String?,
    context: [ContextField], settings: [Setting], guards: [GuardDefinition],
    events: [EventDefinition], start: Located<String>, states: [StateDefinition],
    location: SourceLocation, contextLocation: SourceLocation? = nil, checks: [CheckDefinition] = []
  ) {
    self.checks = checks
    self.id = id
    self.version = version
    self.title = title
    self.description = description
    self.context = context
    self.settings = settings
    self.guards = guards
    self.events = events
    self.start = start
    self.states = states
    self.location = location
    self.contextLocation = contextLocation
  }
}

/// A typed value every session starts with, such as `actor: user`.
public struct ContextField: Sendable {
  public var name: Located<String>
  public var type: Located<String>

  public init(name: Located<String>, type: Located<String>) {
    self.name = name
    self.type = type
  }
}

/// A named constant of the flow (`maxAttempts: 5`, `codeTtl: 10m`) that guards and actions read.
public struct Setting: Sendable {
  public var name: Located<String>
  public var value: Located<Value>

  public init(name: Located<String>, value: Located<Value>) {
    self.name = name
    self.value = value
  }
}

/// A named condition: `isAdmin: actor.role == "admin"`.
public struct GuardDefinition: Sendable {
  public var name: Located<String>
  public var expression: GuardSource

  public init(name: Located<String>, expression: GuardSource) {
    self.name = name
    self.expression = expression
  }
}

/// The text of a guard expression and where each of its characters sits in the file.
public struct GuardSource: Sendable {
  public var text: String
  public var location: SourceLocation
  /// Columns to add to an offset inside `text` (1 for a quoted scalar's opening quote); nil when
  /// the text spans lines (block scalars), where offsets cannot be mapped and the start is used.
  public var columnShift: Int?
  /// The parsed expression, filled in by validation; nil until then or when it did not parse.
  public var parsed: Expression?

  public init(text: String, location: SourceLocation, columnShift: Int?) {
    self.text = text
    self.location = location
    self.columnShift = columnShift
  }

  /// The file position of the character at `offset` (in Unicode scalars) inside the text.
  public func location(ofOffset offset: Int) -> SourceLocation {
    guard let columnShift else { return location }
    return location.advanced(by: columnShift + offset)
  }
}

/// An event a session can receive, with the payload fields it must carry.
public struct EventDefinition: Sendable {
  public var name: Located<String>
  public var fields: [PayloadField]
  /// False when the payload declaration could not be read; its fields are then unknown.
  public var payloadIsKnown: Bool

  public init(name: Located<String>, fields: [PayloadField], payloadIsKnown: Bool = true) {
    self.name = name
    self.fields = fields
    self.payloadIsKnown = payloadIsKnown
  }
}

/// One declared payload field of an event: `phone: phone`.
public struct PayloadField: Sendable {
  public var name: Located<String>
  public var type: Located<String>

  public init(name: Located<String>, type: Located<String>) {
    self.name = name
    self.type = type
  }
}

/// A state: what it accepts, where it goes by itself, or how the flow ends there.
public struct StateDefinition: Sendable {
  public var name: Located<String>
  public var description: String?
  public var on: [EventHandler]
  public var always: [TransitionDefinition]
  /// `after:` entries: transitions taken when the session has rested this long in the state.
  public var after: [TimerDefinition] = []
  public var isFinal: Bool
  public var finalLocation: SourceLocation?
  public var outcome: Located<String>?

  public init(
    name: Located<String>, description: String? = nil, on: [EventHandler] = [],
    always: [TransitionDefinition] = [], isFinal: Bool = false,
    finalLocation: SourceLocation? = nil,
    outcome: Located<String>? = nil
  ) {
    self.name = name
    self.description = description
    self.on = on
    self.always = always
    self.isFinal = isFinal
    self.finalLocation = finalLocation
    self.outcome = outcome
  }
}

extension StateDefinition {
  /// Every transition out of the state: its events', its `always` and its timers'.
  public var allTransitions: [TransitionDefinition] {
    always + on.flatMap(\.transitions) + after.map(\.transition)
  }
}

/// A transition taken when time passes: an `after:` entry of a state (the clock starts when
/// the state is entered) or the flow's `deadline` (the clock starts with the session).
public struct TimerDefinition: Sendable {
  /// `in:` as written: a duration (`15m`) or a setting (`settings.idleTimeout`).
  public var delay: Located<String>
  public var transition: TransitionDefinition

  public init(delay: Located<String>, transition: TransitionDefinition) {
    self.delay = delay
    self.transition = transition
  }
}

extension FlowDefinition {
  /// The seconds a timer's `in:` stands for, or nil when it names no positive duration.
  public func seconds(of delay: String) -> Int? {
    if delay.hasPrefix("settings.") {
      let name = delay.dropFirst("settings.".count)
      guard let setting = settings.first(where: { $0.name.value == name }),
        case .duration(let seconds) = setting.value.value, seconds > 0
      else { return nil }
      return seconds
    }
    guard let seconds = Value.parseDuration(delay), seconds > 0 else { return nil }
    return seconds
  }
}

/// The transitions one event may take from a state, tried in order.
public struct EventHandler: Sendable {
  public var event: Located<String>
  public var transitions: [TransitionDefinition]

  public init(event: Located<String>, transitions: [TransitionDefinition]) {
    self.event = event
    self.transitions = transitions
  }
}

/// One way out of a state: a target, an optional guard, and the actions performed on the way.
public struct TransitionDefinition: Sendable {
  public var target: Located<String>
  public var guardSource: GuardSource?
  public var actions: [ActionCall]
  public var description: String?
  /// Declared `unreachable: true`: `flowctl check` proves no path takes it.
  public var isUnreachable = false
  /// Why the author says no path takes it (`reason:`).
  public var unreachableReason: String?
  public var location: SourceLocation

  public init(
    target: Located<String>, guardSource: GuardSource? = nil, actions: [ActionCall] = [],
    description: String? = nil, location: SourceLocation
  ) {
    self.target = target
    self.guardSource = guardSource
    self.actions = actions
    self.description = description
    self.location = location
  }
}

/// A call of a catalog action, e.g. `sendCode: { purpose: disable-2fa, to: target.phone }`.
public struct ActionCall: Sendable {
  public var name: Located<String>
  public var arguments: [ActionArgument]

  public init(name: Located<String>, arguments: [ActionArgument]) {
    self.name = name
    self.arguments = arguments
  }
}

/// One argument of an action call, still as written; the validator types it.
public struct ActionArgument: Sendable {
  public var name: Located<String>
  public var source: GuardSource
  /// True when the YAML scalar was plain (unquoted), so `5` is a number and `true` a boolean.
  public var isPlain: Bool

  public init(name: Located<String>, source: GuardSource, isPlain: Bool) {
    self.name = name
    self.source = source
    self.isPlain = isPlain
  }
}

/// A property of the flow, proven over every path it allows.
public struct CheckDefinition: Sendable {
  public enum Kind: Sendable {
    /// Every path that reaches `state` has passed through `via`.
    case reachesVia(state: Located<String>, via: Located<String>)
    /// Whenever `state` is entered, `condition` holds.
    case reachesWhen(state: Located<String>, condition: GuardSource)
    /// Whenever `action` is performed, `condition` holds just before it runs.
    case performsWhen(action: Located<String>, condition: GuardSource)
    /// Whenever `state` is entered, `condition` holds on the facts as they are at that moment
    /// (read again after the step's actions), for example "when cancelled, 2FA is on".
    case holdsIn(state: Located<String>, condition: GuardSource)
    /// Some path reaches `state`, from every start whose facts satisfy `when` (from some
    /// start when there is no `when`).
    case canReach(state: Located<String>, when: GuardSource?)
    /// From every state a session can rest in, a final state can still be reached.
    case finalReachable
    /// Every state a session can rest in that is not final accepts some event.
    case noDeadEnds
  }

  public var name: Located<String>
  public var kind: Kind
  public var location: SourceLocation

  public init(name: Located<String>, kind: Kind, location: SourceLocation) {
    self.name = name
    self.kind = kind
    self.location = location
  }
}

/// One template of `messages:`: `code: { sms: "…" }` or `code: { step-up: { email: {…} } }`.
public struct MessageDefinition: Sendable {
  public var name: Located<String>
  /// The variant it is worded for (`step-up`); nil for the message's own wording.
  public var variant: Located<String>?
  public var channel: Located<String>
  /// An email's subject; nil for a channel without one (or when the flow gave none).
  public var subject: GuardSource?
  public var body: GuardSource
  /// Where the template's value begins (a mapping for email, the text for SMS).
  public var location: SourceLocation
  /// True when the value was written as a mapping (`{ subject, body }`), false for plain text.
  public var hasParts: Bool

  public init(
    name: Located<String>, variant: Located<String>?, channel: Located<String>,
    subject: GuardSource?, body: GuardSource, location: SourceLocation, hasParts: Bool
  ) {
    self.name = name
    self.variant = variant
    self.channel = channel
    self.subject = subject
    self.body = body
    self.location = location
    self.hasParts = hasParts
  }
}
