public import FlowEngine

/// A session of a flow on the in-memory store with a simulated clock and inboxes: what
/// `flowctl run` drives, through the same `SessionEngine` as a durable store. Nothing is sent
/// anywhere; deliveries land in the simulated inbox.
public final class DryRun {
  public let flow: CompiledFlow
  public let clock: ManualClock
  public let services: InMemoryAccountSecurity
  public let store: InMemoryStore
  public let engine: SessionEngine
  /// For previews of what an event would do (`preview()`); steps go through `engine`.
  public let runner: FlowRunner
  public private(set) var session: Session
  /// The trace of the session's start (its initial `always` transitions).
  public let startTrace: StepTrace
  private var deliveredCount = 0

  /// Starts a session for `actor` and `target` (user ids of the world). Codes come from a
  /// seeded generator so that a dry run is repeatable.
  public init(
    flow: CompiledFlow, world: AccountSecurityState, actor: String, target: String,
    seed: UInt64 = 2_026,
    sessionID: String = "dry-run"
  ) throws(UnknownUser) {
    self.flow = flow
    clock = ManualClock()
    services = InMemoryAccountSecurity(
      state: world, clock: clock, codes: SeededCodeGenerator(seed: seed))
    store = InMemoryStore(services: services)
    engine = SessionEngine(store: store, catalog: flow.catalog, clock: clock)
    runner = FlowRunner(flow: flow, services: services, clock: clock)
    for id in [actor, target] where world.users[id] == nil { throw UnknownUser(id: id) }
    do {
      let started = try engine.startNow(
        flow: flow, subjects: ["actor": actor, "target": target], id: sessionID)
      session = started.session
      startTrace = started.trace
    } catch SessionEngine.Failure.invalidFlow(let message) {
      throw UnknownUser(id: actor == target ? actor : "\(actor)/\(target)", problem: message)
    } catch {
      preconditionFailure("the in-memory store never fails: \(error)")
    }
  }

  /// Sends an event; a payload value `$received` stands for the last code delivered to the
  /// destination the flow is verifying.
  @discardableResult
  public func send(_ event: String, _ payload: [String: Value] = [:]) -> FlowRunner.StepResult {
    var resolved = payload
    for (name, value) in payload where value == .string(EventScript.receivedCode) {
      if let code = receivedCode { resolved[name] = .string(code) }
    }
    do {
      let step = try engine.sendNow(session: session.id, event: event, payload: resolved)
      session = step.session
      return FlowRunner.StepResult(session: step.session, trace: step.trace, timers: step.timers)
    } catch {
      preconditionFailure("the in-memory store never fails: \(error)")
    }
  }

  /// Continues from `session` (for example one decoded from a snapshot); the world is kept.
  public func restore(_ session: Session) {
    store.put(session)
    self.session = session
  }

  /// Moves the simulated clock forward and fires, in due order, every timer of the session
  /// that falls due during the wait; returns their traces.
  @discardableResult
  public func wait(_ seconds: Int) -> [StepTrace] {
    clock.advance(by: seconds)
    do {
      let firings = try engine.tickNow()
      if let mine = firings.last(where: { $0.session.id == session.id }) {
        session = mine.session
      }
      return firings.filter { $0.session.id == session.id }.flatMap(\.traces)
    } catch {
      preconditionFailure("the in-memory store never fails: \(error)")
    }
  }

  /// The code a person would read off the phone now: the last one delivered to the
  /// destination of this session's newest code.
  public var receivedCode: String? {
    services.receivedCode(for: session)
  }

  /// Messages delivered since the last call (for showing them as they arrive).
  public func newDeliveries() -> [OutboundMessage] {
    let outbox = services.snapshot.outbox
    defer { deliveredCount = outbox.count }
    return Array(outbox.dropFirst(deliveredCount))
  }

  /// What each event the current state accepts would do now, without doing it: the target
  /// state, or why it would be rejected. Events with payload fields are previewed as accepted
  /// "with a valid payload" only when their guards do not read the payload.
  public func preview() -> [(event: String, fields: [String], outcome: String)] {
    let state = flow.states[session.stateID]
    return state.acceptedEvents.map { name in
      let event = flow.events[flow.eventIndex[name]!]
      let fields = event.fields.map(\.name)
      var sample: [String: Value] = [:]
      for field in event.fields { sample[field.name] = Self.sample(for: field.type) }
      let current = (try? runner.withFacts(session)) ?? session
      switch runner.machine.decide(current, event: name, payload: sample) {
      case .accepted(let choice):
        let target = flow.states[choice.transition.target].name
        let actions = choice.transition.actions.map(\.name)
        return (
          name, fields,
          "→ \(target)" + (actions.isEmpty ? "" : " (\(actions.joined(separator: ", ")))")
        )
      case .rejected(let rejection):
        return (name, fields, "rejected: \(rejection)")
      }
    }
  }

  private static func sample(for type: ValueType) -> Value {
    switch type {
    case .scalar("phone"), .scalar("destination"): .string("+15550100000")
    case .scalar("code"): .string("000000")
    case .scalar("email"): .string("someone@example.test")
    case .int: .int(0)
    case .bool: .bool(false)
    case .duration: .duration(0)
    case .enumeration(_, let cases): .string(cases.first ?? "")
    default: .string("")
    }
  }
}
