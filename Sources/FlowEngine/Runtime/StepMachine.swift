/// One step of one session, as a state machine in the style of swift-nio's: a plain value whose
/// `mutating` functions take what happened (an event, an action's result, an action's failure)
/// and return the next thing for the caller to do: perform this action with these arguments,
/// commit this session, or reject with this reason. It performs nothing itself, so every
/// driver (the runner, the durable engine, the path explorer, the harness and dry runs) moves
/// sessions the same way, and nothing can move a session without performing its actions: the
/// only way to a `.commit` is through every `.perform` of the step. It is internal to the
/// engine: code outside drives sessions through `SessionEngine` or `FlowRunner`, which perform
/// every action through the services, so no caller can answer an action's request itself.
///
/// Run to completion (the event's transition, then `always` transitions until none holds),
/// the `always` bound and the trace live here.
struct StepMachine: Sendable {
  /// What the caller does next.
  enum Next: Sendable {
    /// Perform this action (inside the step's transaction), then call `succeeded` or `failed`.
    case perform(ActionRequest)
    /// The session entered a state with an `in … holds` check: read the subjects' facts as
    /// they are now (inside the step's transaction) and call `factsRead`.
    case readFacts(Session)
    /// The session entered a state (reported only when `reportsEntries`); call `proceed`.
    case entered(state: Int, session: Session)
    /// Keep everything the step did: the new session and its trace.
    case commit(Session, StepTrace)
    /// Keep nothing of the step but its audit: the session is unchanged.
    case reject(Session, StepTrace)
  }

  private enum Phase {
    case idle
    /// Performing `choice.transition.actions[index]`.
    case performing(choice: FlowMachine.Choice, index: Int)
    /// Asked for the facts after entering `state`; `factsRead` checks them.
    case readingFacts(state: Int)
    /// Reported an entry; `proceed` looks for the next `always` transition.
    case enteredState
    case finished
  }

  let machine: FlowMachine
  var flow: CompiledFlow { machine.flow }
  /// The session as it was before the step.
  let original: Session
  private var working: Session
  private let now: Int
  private var phase = Phase.idle
  private var event: String?
  private var rawPayload: [String: Value] = [:]
  private var transitions: [TransitionTrace] = []
  private var effects: [EffectTrace] = []
  private var pendingArguments: [String: Value] = [:]
  private var isEventless = true
  /// `after` or `deadline` while the timer's own transition is taken.
  private var timerKind: String?
  private var eventlessCount = 0
  private var factsHold: Bool
  /// Set once the step performed an action that may change facts (the catalog says which
  /// leave them alone): only then are they read again, for `in … holds` and the version.
  private(set) var touchedFacts = false
  /// Set while a timer's step runs: how traces name it, and which timer it consumes.
  private var firing: (label: String, isDeadline: Bool)?
  /// When true, the machine stops after entering each state with `.entered` (the path
  /// explorer checks properties there).
  var reportsEntries = false
  /// When false, the session's maximum age is not enforced (the path explorer explores the
  /// flow's own logic; expiry is the engine's, the same for every event).
  var enforcesMaxAge = true

  /// A step of `session` at time `now`, with the facts the directory gives now (by slot name,
  /// `actor.role`) and their version, which must equal the one the session kept.
  init(
    machine: FlowMachine, session: Session, facts: [String: Value], factsVersion: [Int], now: Int
  ) {
    self.machine = machine
    self.original = session
    self.now = now
    var filled = session
    for (index, slot) in machine.flow.slots.enumerated() where slot.kind == .fact {
      if let value = facts[slot.name] { filled.values[index] = value }
    }
    // A verification's verdict is about the code of its own step: this step reads it as zero.
    // (The session at rest still shows the last verdict.)
    for slot in machine.oneStepSlots {
      filled.values[slot] = FlowMachine.zero(of: machine.flow.slots[slot].type)
    }
    self.working = filled
    self.factsHold = session.factsVersion == factsVersion
  }

  /// The session of this step with the directory's facts filled in (for previews).
  var sessionWithFacts: Session { working }

  /// Runs the start state's `always` transitions of a new session.
  mutating func start() -> Next {
    precondition(isIdle, "a step machine runs one step")
    event = nil
    let state = flow.start
    if let violated = machine.violatedCheck(
      machine.entryChecks[state] + machine.holdsChecks[state], values: working.values, action: nil)
    {
      return reject(violated)
    }
    return proceedAlways()
  }

  /// Handles an event: its transition (after checking the payload and guards), then `always`
  /// transitions until none holds.
  mutating func receive(_ name: String, payload: [String: Value]) -> Next {
    precondition(isIdle, "a step machine runs one step")
    event = name
    rawPayload = payload
    // Past the flow's deadline (it fired), every event is rejected as expired, wherever the
    // deadline led (SECURITY.md 27).
    if original.deadlineDone, let deadline = flow.deadline {
      return reject(.sessionExpired(expiredAt: original.startedAt &+ deadline.seconds))
    }
    if let outcome = original.outcome {
      return reject(.sessionEnded(state: original.state, outcome: outcome))
    }
    // A flow with a deadline ends its sessions itself (a timer the engine fires first).
    if enforcesMaxAge, flow.deadline == nil, now >= original.expiresAt {
      return reject(.sessionExpired(expiredAt: original.expiresAt))
    }
    if !factsHold { return reject(.factsChanged) }
    switch machine.decide(working, event: name, payload: payload) {
    case .rejected(let rejection):
      return reject(rejection)
    case .accepted(let choice):
      isEventless = false
      return begin(choice)
    }
  }

  /// Fires the session's next timer, which the caller found due at or before this step's
  /// time: the deadline's transition, or the first of the due `after` group whose `when`
  /// holds (when none does, the group is spent and the session stays). Whatever happens, the
  /// timer is spent: a rejected firing keeps nothing else, and never fires again.
  mutating func fire() -> Next {
    precondition(isIdle, "a step machine runs one step")
    event = nil
    guard let (_, isDeadline) = machine.nextTimer(original) else {
      preconditionFailure("no timer is pending")
    }
    let state = flow.states[original.stateID]
    if isDeadline, let deadline = flow.deadline {
      firing = ("deadline \(Value.format(duration: deadline.seconds))", true)
      working.deadlineDone = true
      if !factsHold { return reject(.factsChanged) }
      isEventless = false
      timerKind = "deadline"
      let none = [Value?](repeating: nil, count: flow.payloadFields.count)
      return begin(FlowMachine.Choice(transition: deadline.transition, payload: none, guards: []))
    }
    let group = state.timerGroups[original.timersDone]
    firing = ("after \(Value.format(duration: group.seconds)) in \(state.name)", false)
    working.timersDone += 1
    if !factsHold { return reject(.factsChanged) }
    let none = [Value?](repeating: nil, count: flow.payloadFields.count)
    var tried: [GuardTrace] = []
    for index in group.timers {
      let timer = state.timers[index]
      if let condition = timer.transition.condition {
        let trace = machine.explain(condition, values: working.values, payload: none)
        tried.append(trace)
        if !trace.value { continue }
      }
      isEventless = false
      timerKind = "after"
      return begin(
        FlowMachine.Choice(transition: timer.transition, index: index, payload: none, guards: tried)
      )
    }
    return commit()
  }

  /// The action asked for by the last `.perform` succeeded with these results.
  mutating func succeeded(_ results: [String: Value]) -> Next {
    guard case .performing(let choice, let index) = phase else {
      preconditionFailure("no action is being performed")
    }
    let action = choice.transition.actions[index]
    if flow.catalog.actions[action.name]?.leavesFactsAlone != true { touchedFacts = true }
    machine.record(results, of: action, in: &working)
    effects.append(effect(action, arguments: pendingArguments, results: results))
    return performNext(choice, from: index + 1)
  }

  /// The action asked for by the last `.perform` refused: the step is rejected.
  mutating func failed(_ failure: ActionFailure) -> Next {
    guard case .performing(let choice, let index) = phase else {
      preconditionFailure("no action is being performed")
    }
    return reject(
      .actionFailed(action: choice.transition.actions[index].name, message: failure.message))
  }

  /// The facts asked for by `.readFacts` (by slot name, `target.twoFactor.enabled`).
  mutating func factsRead(_ facts: [String: Value]) -> Next {
    guard case .readingFacts(let state) = phase else { preconditionFailure("no facts were asked") }
    var values = working.values
    for (index, slot) in flow.slots.enumerated() where slot.kind == .fact {
      if let value = facts[slot.name] { values[index] = value }
    }
    if let violated = machine.violatedCheck(
      machine.holdsChecks[state], values: values, action: nil)
    {
      return reject(violated)
    }
    return afterEntry(state)
  }

  /// Continues after an `.entered` report.
  mutating func proceed() -> Next {
    guard case .enteredState = phase else { preconditionFailure("nothing to proceed from") }
    return proceedAlways()
  }

  // MARK: - Inside

  private var isIdle: Bool {
    if case .idle = phase { return true }
    return false
  }

  private mutating func begin(_ choice: FlowMachine.Choice) -> Next {
    effects = []
    return performNext(choice, from: 0)
  }

  private mutating func performNext(_ choice: FlowMachine.Choice, from index: Int) -> Next {
    let actions = choice.transition.actions
    if index < actions.count {
      let action = actions[index]
      if let checks = machine.actionChecks[action.name],
        let violated = machine.violatedCheck(checks, values: working.values, action: action.name)
      {
        return reject(violated)
      }
      pendingArguments = machine.arguments(of: action, in: working, payload: choice.payload)
      phase = .performing(choice: choice, index: index)
      return .perform(
        ActionRequest(
          action: action.name, arguments: pendingArguments, session: working, now: now,
          messages: machine.flow.messages))
    }
    let from = working.state
    machine.enter(choice.transition, session: &working, now: now)
    transitions.append(
      TransitionTrace(
        from: from, to: working.state, isEventless: isEventless,
        event: isEventless ? nil : event, index: choice.index, guards: choice.guards,
        effects: effects, timer: timerKind))
    isEventless = true
    timerKind = nil
    let state = choice.transition.target
    if let violated = machine.violatedCheck(
      machine.entryChecks[state], values: working.values, action: nil)
    {
      return reject(violated)
    }
    if !machine.holdsChecks[state].isEmpty {
      guard touchedFacts else {
        // Nothing this step did can have changed the facts read at its start.
        if let violated = machine.violatedCheck(
          machine.holdsChecks[state], values: working.values, action: nil)
        {
          return reject(violated)
        }
        return afterEntry(state)
      }
      phase = .readingFacts(state: state)
      return .readFacts(working)
    }
    return afterEntry(state)
  }

  private mutating func afterEntry(_ state: Int) -> Next {
    if reportsEntries {
      phase = .enteredState
      return .entered(state: state, session: working)
    }
    return proceedAlways()
  }

  private mutating func proceedAlways() -> Next {
    guard let choice = machine.decideAlways(working) else { return commit() }
    eventlessCount += 1
    if eventlessCount > machine.alwaysLimit {
      return reject(.runaway(state: working.state, limit: machine.alwaysLimit))
    }
    return begin(choice)
  }

  private mutating func commit() -> Next {
    phase = .finished
    var session = working
    session.seq += 1
    session.updatedAt = now
    session.dueAt = machine.nextTimer(session)?.due
    let trace = StepTrace(
      event: event, payload: displayed(rawPayload, event: event), from: original.state,
      to: session.state, rejection: nil, transitions: transitions, outcome: session.outcome,
      timer: firing?.label)
    return .commit(session, trace)
  }

  private mutating func reject(_ rejection: Rejection) -> Next {
    phase = .finished
    var trace = StepTrace(
      event: event ?? (firing == nil ? "(start)" : nil),
      payload: displayed(rawPayload, event: event),
      from: original.state, to: original.state, rejection: rejection, transitions: [],
      outcome: nil)
    guard let firing else { return .reject(original, trace) }
    // A timer is spent even when its firing is refused: the session keeps only that.
    trace.timer = firing.label
    var spent = original
    if firing.isDeadline { spent.deadlineDone = true } else { spent.timersDone += 1 }
    spent.seq += 1
    spent.updatedAt = max(original.updatedAt, now)
    spent.dueAt = machine.nextTimer(spent)?.due
    return .reject(spent, trace)
  }

  private func effect(
    _ action: CompiledAction, arguments: [String: Value], results: [String: Value]
  ) -> EffectTrace {
    let signature = flow.catalog.actions[action.name]
    let shownArguments = arguments.sorted { $0.key < $1.key }.map { name, value in
      let type = signature?.parameters.first { $0.name == name }?.type ?? .string
      return GuardTrace.Named(name: name, value: machine.display(value, as: type))
    }
    let shownResults = results.sorted { $0.key < $1.key }.map { name, value in
      let type = signature?.result.first { $0.name == name }?.type ?? .string
      return GuardTrace.Named(name: name, value: machine.display(value, as: type))
    }
    return EffectTrace(action: action.name, arguments: shownArguments, results: shownResults)
  }

  /// The payload as it may be shown: declared fields masked or hidden by type; anything else
  /// (undeclared fields, unknown events) hidden entirely, since its type is unknown.
  private func displayed(_ payload: [String: Value], event: String?) -> [GuardTrace.Named] {
    if payload.isEmpty { return [] }
    let fields = event.flatMap { flow.eventIndex[$0] }.map { flow.events[$0].fields } ?? []
    return payload.sorted { $0.key < $1.key }.map { name, value in
      guard let field = fields.first(where: { $0.name == name }) else {
        return GuardTrace.Named(name: name, value: "[hidden]")
      }
      switch machine.normalize(value, as: field.type) {
      case .success(let normalized):
        return .init(name: name, value: machine.display(normalized, as: field.type))
      case .failure: return .init(name: name, value: "[invalid]")
      }
    }
  }
}

extension StepMachine {
  /// Drives the machine to its end, performing each action with `perform`. An `ActionFailure`
  /// thrown by `perform` is the action refusing (the step is rejected); any other error is an
  /// infrastructure failure and is rethrown, never dressed up as a rejection.
  mutating func run(
    from first: Next, perform: (ActionRequest) throws -> [String: Value],
    readFacts: (Session) throws -> [String: Value],
    entered: ((Int, Session) -> Void)? = nil
  ) throws -> Next {
    var next = first
    while true {
      switch next {
      case .perform(let request):
        let results: [String: Value]
        do {
          results = try perform(request)
        } catch let failure as ActionFailure {
          next = failed(failure)
          continue
        }
        next = succeeded(results)
      case .readFacts(let session):
        next = factsRead(try readFacts(session))
      case .entered(let state, let session):
        entered?(state, session)
        next = proceed()
      case .commit, .reject:
        return next
      }
    }
  }
}
