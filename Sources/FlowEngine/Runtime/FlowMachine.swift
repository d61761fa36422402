/// The pure core of the runtime: given a session and an event it decides, and given the
/// results of actions it computes the next session. It performs nothing itself; `FlowRunner`
/// performs the actions it plans through the services. Every function is a plain function of
/// its inputs, which is what makes dry runs explainable and steps easy to test.
public struct FlowMachine: Sendable {
  public let flow: CompiledFlow
  /// Most `always` transitions in one step before it is refused as runaway.
  public let alwaysLimit: Int
  /// The `performs … when` checks of each action, by action name (enforced on every step).
  let actionChecks: [String: [Int]]
  /// The `reaches … when` checks of each state, by state id (on the facts of the step).
  let entryChecks: [[Int]]
  /// The `in … holds` checks of each state, by state id (on the facts read again on entry).
  let holdsChecks: [[Int]]
  /// Result slots of actions whose results last one step (`verifyCode.ok`).
  let oneStepSlots: [Int]

  public init(flow: CompiledFlow, alwaysLimit: Int = 100) {
    self.flow = flow
    self.alwaysLimit = alwaysLimit
    var actionChecks: [String: [Int]] = [:]
    var entryChecks = [[Int]](repeating: [], count: flow.states.count)
    var holdsChecks = [[Int]](repeating: [], count: flow.states.count)
    for (number, check) in flow.checks.enumerated() {
      switch check.kind {
      case .performsWhen(let action, _): actionChecks[action, default: []].append(number)
      case .reachesWhen(let state, _): entryChecks[state].append(number)
      case .holdsIn(let state, _): holdsChecks[state].append(number)
      default: break
      }
    }
    self.actionChecks = actionChecks
    self.entryChecks = entryChecks
    self.holdsChecks = holdsChecks
    var oneStep: Set<Int> = []
    for state in flow.states {
      for transition in state.handlers.joined() + state.always {
        for action in transition.actions
        where flow.catalog.actions[action.name]?.resultsLastOneStep == true {
          oneStep.formUnion(action.results.map(\.slot))
        }
      }
    }
    self.oneStepSlots = oneStep.sorted()
  }

  /// The first of `checks` whose condition is false on `values`, with what it saw.
  func violatedCheck(_ checks: [Int], values: [Value], action: String?) -> Rejection? {
    let none = [Value?](repeating: nil, count: flow.payloadFields.count)
    for number in checks {
      let check = flow.checks[number]
      let condition: CompiledCondition
      let reason: String
      switch check.kind {
      case .performsWhen(_, let when):
        condition = when
        reason = "performing '\(action ?? "")' although"
      case .reachesWhen(let state, let when):
        condition = when
        reason = "entering '\(flow.states[state].name)' although"
      case .holdsIn(let state, let holds):
        condition = holds
        reason = "entering '\(flow.states[state].name)' although"
      default: continue
      }
      let trace = explain(condition, values: values, payload: none)
      if !trace.value {
        return .checkViolated(check: check.name, reason: "\(reason) \(trace)")
      }
    }
    return nil
  }

  /// Why a session could not be started.
  public struct StartError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
  }

  /// A transition chosen, with the validated payload it will run with.
  public struct Choice: Sendable {
    public var transition: CompiledTransition
    /// Position of the transition in its list.
    public var index: Int = 0
    public var payload: [Value?]
    public var guards: [GuardTrace]
  }

  public enum Decision: Sendable {
    case accepted(Choice)
    case rejected(Rejection)
  }

  /// A new session in the start state, before its `always` transitions (a step machine runs
  /// them). `facts` gives every context fact by its dotted name (`actor.role`); the session
  /// keeps the ids of its subjects (`actor.id`), never the facts. Its maximum age is the flow's
  /// `settings.sessionMaxAge`, or an hour.
  public func makeSession(id: String, facts: [String: Value], now: Int) throws(StartError)
    -> Session
  {
    var values: [Value] = []
    values.reserveCapacity(flow.slots.count)
    for slot in flow.slots {
      switch slot.kind {
      case .fact:
        guard let value = facts[slot.name] else {
          throw StartError(message: "missing fact '\(slot.name)'")
        }
        if let problem = check(value, as: slot.type) {
          throw StartError(message: "fact '\(slot.name)' \(problem)")
        }
        values.append(Self.zero(of: slot.type))
      case .result:
        values.append(Self.zero(of: slot.type))
      }
    }
    var subjects: [String: String] = [:]
    for field in flow.context {
      guard case .string(let subject) = facts["\(field.name).id"] else {
        throw StartError(message: "missing fact '\(field.name).id'")
      }
      subjects[field.name] = subject
    }
    let start = flow.states[flow.start]
    let (expiry, overflow) = now.addingReportingOverflow(flow.sessionMaxAge)
    return Session(
      id: id, flowID: flow.id, flowVersion: flow.version, contentHash: flow.contentHash,
      stateID: flow.start, state: start.name, outcome: start.outcome, values: values,
      slotNames: flow.slots.map(\.name), subjects: subjects, seq: 0, startedAt: now,
      updatedAt: now, expiresAt: overflow ? Int.max : expiry, factsVersion: [], enteredAt: now)
  }

  /// The timer of `session` that falls due next: when, and whether it is the flow's deadline
  /// (which wins a tie). Nil for a final session, or when none is pending.
  public func nextTimer(_ session: Session) -> (due: Int, isDeadline: Bool)? {
    guard !flow.states[session.stateID].isFinal else { return nil }
    var next: (due: Int, isDeadline: Bool)?
    if let deadline = flow.deadline, !session.deadlineDone {
      next = (session.startedAt &+ deadline.seconds, true)
    }
    let groups = flow.states[session.stateID].timerGroups
    if session.timersDone < groups.count {
      let due = session.enteredAt &+ groups[session.timersDone].seconds
      if next.map({ due < $0.due }) ?? true { next = (due, false) }
    }
    return next
  }

  static func zero(of type: ValueType) -> Value {
    switch type {
    case .bool: .bool(false)
    case .int: .int(0)
    case .duration: .duration(0)
    case .string, .enumeration, .scalar, .record: .string("")
    }
  }

  /// Decides how `event` with `payload` would be handled in `session`, without changing it.
  public func decide(_ session: Session, event name: String, payload: [String: Value]) -> Decision {
    let state = flow.states[session.stateID]
    if let outcome = state.outcome {
      return .rejected(.sessionEnded(state: state.name, outcome: outcome))
    }
    guard let eventID = flow.eventIndex[name] else {
      return .rejected(.unknownEvent(event: name, declared: flow.events.map(\.name)))
    }
    let transitions = state.handlers[eventID]
    if transitions.isEmpty {
      return .rejected(.notAccepted(event: name, state: state.name, accepted: state.acceptedEvents))
    }
    let event = flow.events[eventID]
    var slots = [Value?](repeating: nil, count: flow.payloadFields.count)
    for field in payload.keys.sorted() where !event.fields.contains(where: { $0.name == field }) {
      let declared =
        event.fields.isEmpty
        ? "it carries no payload" : "it has: \(event.fields.map(\.name).joined(separator: ", "))"
      return .rejected(
        .invalidPayload(
          event: name, field: field, problem: "is not a field of this event; \(declared)"))
    }
    for field in event.fields {
      guard let raw = payload[field.name] else {
        return .rejected(.invalidPayload(event: name, field: field.name, problem: "is missing"))
      }
      switch normalize(raw, as: field.type) {
      case .success(let value): slots[field.slot] = value
      case .failure(let problem):
        return .rejected(.invalidPayload(event: name, field: field.name, problem: problem.message))
      }
    }
    var tried: [GuardTrace] = []
    for (index, transition) in transitions.enumerated() {
      if let condition = transition.condition {
        let trace = explain(condition, values: session.values, payload: slots)
        tried.append(trace)
        if !trace.value { continue }
      }
      return .accepted(Choice(transition: transition, index: index, payload: slots, guards: tried))
    }
    return .rejected(.noTransitionEnabled(event: name, state: state.name, guards: tried))
  }

  /// The first `always` transition of the session's state whose guard holds, if any.
  public func decideAlways(_ session: Session) -> Choice? {
    let state = flow.states[session.stateID]
    var tried: [GuardTrace] = []
    let none = [Value?](repeating: nil, count: flow.payloadFields.count)
    for (index, transition) in state.always.enumerated() {
      if let condition = transition.condition {
        let trace = explain(condition, values: session.values, payload: none)
        tried.append(trace)
        if !trace.value { continue }
      }
      return Choice(transition: transition, index: index, payload: none, guards: tried)
    }
    return nil
  }

  /// The arguments of `action` evaluated against the session as it is now (results of earlier
  /// actions of the same transition included).
  public func arguments(of action: CompiledAction, in session: Session, payload: [Value?])
    -> [String: Value]
  {
    var result: [String: Value] = [:]
    for argument in action.arguments {
      result[argument.name] = evaluate(argument.value, values: session.values, payload: payload)
    }
    return result
  }

  /// Stores an action's results in the session (only a step machine moves sessions).
  func record(
    _ results: [String: Value], of action: CompiledAction, in session: inout Session
  ) {
    for (field, slot) in action.results {
      if let value = results[field] { session.values[slot] = value }
    }
  }

  /// Moves the session into the transition's target state (only a step machine moves sessions).
  func enter(_ transition: CompiledTransition, session: inout Session, now: Int) {
    let target = flow.states[transition.target]
    session.stateID = transition.target
    session.state = target.name
    session.outcome = target.outcome
    session.updatedAt = now
    // Entering a state (itself included) starts its timers again.
    session.enteredAt = now
    session.timersDone = 0
  }

  // MARK: - Values

  /// Checks a value against a type (for facts given by the host).
  func check(_ value: Value, as type: ValueType) -> String? {
    switch normalize(value, as: type) {
    case .success: nil
    case .failure(let error): error.message
    }
  }

  /// Validates a payload value and brings it to canonical form (e.g. a phone number to E.164).
  /// Messages never repeat a secret value.
  public func normalize(_ value: Value, as type: ValueType) -> Result<Value, ScalarError> {
    switch (type, value) {
    case (.string, .string), (.int, .int), (.bool, .bool), (.duration, .duration):
      return .success(value)
    case (.duration, .string(let text)):
      guard let seconds = Value.parseDuration(text) else {
        return .failure(ScalarError("must be a duration such as 10m"))
      }
      return .success(.duration(seconds))
    case (.int, .string(let text)):
      guard let number = Int(text) else { return .failure(ScalarError("must be a whole number")) }
      return .success(.int(number))
    case (.bool, .string(let text)) where text == "true" || text == "false":
      return .success(.bool(text == "true"))
    case (.enumeration(let name, let cases), .string(let text)):
      guard cases.contains(text) else {
        return .failure(
          ScalarError(
            "must be \(ValidationRun.article(name)): one of \(cases.joined(separator: ", "))"))
      }
      return .success(value)
    case (.scalar(let name), .string(let text)):
      guard let rules = flow.catalog.scalars[name] else { return .success(value) }
      return rules.parse(text).map { .string($0) }
    default:
      return .failure(ScalarError("must be \(ValidationRun.describe(type))"))
    }
  }

  /// Evaluates a condition and records what it saw, for traces and rejections.
  func explain(_ condition: CompiledCondition, values: [Value], payload: [Value?]) -> GuardTrace {
    let value = evaluate(condition.expression, values: values, payload: payload) == .bool(true)
    let guards = condition.guards.map { named in
      GuardTrace.Named(
        name: named.name,
        value: String(evaluate(named.expression, values: values, payload: payload) == .bool(true)))
    }
    let inputs = condition.inputs.map { operand -> GuardTrace.Named in
      switch operand {
      case .slot(let slot):
        return .init(
          name: flow.slots[slot].name,
          value: flow.catalog.display(values[slot], as: flow.slots[slot].type))
      case .payload(let slot):
        let field = flow.payloadFields[slot]
        let shown = payload[slot].map { flow.catalog.display($0, as: field.type) } ?? "none"
        return .init(name: "event.\(field.name)", value: shown)
      }
    }
    return GuardTrace(condition: condition.text, value: value, guards: guards, inputs: inputs)
  }

  /// Evaluates a compiled expression; a missing payload value reads as false/zero.
  public func evaluate(_ expression: CompiledExpression, values: [Value], payload: [Value?])
    -> Value
  {
    switch expression {
    case .constant(let value):
      return value
    case .read(.slot(let slot)):
      return values[slot]
    case .read(.payload(let slot)):
      return payload[slot] ?? .bool(false)
    case .not(let operand):
      return .bool(evaluate(operand, values: values, payload: payload) != .bool(true))
    case .and(let lhs, let rhs):
      return .bool(
        evaluate(lhs, values: values, payload: payload) == .bool(true)
          && evaluate(rhs, values: values, payload: payload) == .bool(true))
    case .or(let lhs, let rhs):
      return .bool(
        evaluate(lhs, values: values, payload: payload) == .bool(true)
          || evaluate(rhs, values: values, payload: payload) == .bool(true))
    case .compare(let op, let lhs, let rhs):
      let left = evaluate(lhs, values: values, payload: payload)
      let right = evaluate(rhs, values: values, payload: payload)
      switch op {
      case .equal: return .bool(left == right)
      case .notEqual: return .bool(left != right)
      default:
        guard let a = left.orderingKey, let b = right.orderingKey else { return .bool(false) }
        switch op {
        case .less: return .bool(a < b)
        case .lessOrEqual: return .bool(a <= b)
        case .greater: return .bool(a > b)
        default: return .bool(a >= b)
        }
      }
    case .member(let operand, let list):
      return .bool(list.contains(evaluate(operand, values: values, payload: payload)))
    }
  }

  /// How a value is shown in traces (masked or hidden per the catalog).
  public func display(_ value: Value, as type: ValueType) -> String {
    flow.catalog.display(value, as: type)
  }
}

extension Value {
  /// Numbers and durations compare by magnitude; other values are not ordered.
  var orderingKey: Int? {
    switch self {
    case .int(let number): number
    case .duration(let seconds): seconds
    default: nil
    }
  }
}
