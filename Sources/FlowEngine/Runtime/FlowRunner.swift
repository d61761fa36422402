public import Logging
internal import Synchronization

/// Runs sessions of one flow against services, one step at a time: reads the facts, drives a
/// `StepMachine` through the actions it asks for, and keeps all of a step or none of it. The
/// durable `SessionEngine` does the same inside a store's transaction; both use `StepCore`.
public struct FlowRunner: Sendable {
  public let machine: FlowMachine
  public let services: any FlowServices
  public let clock: any FlowClock
  /// Gets one line per step: flow, session, event, states, outcome or rejection kind. Payload
  /// values are never logged.
  public let logger: Logger
  /// Sees every action just before it runs and every state as it is entered, with the session
  /// as it is at that moment (for the path explorer's checks). Steps that are later rolled
  /// back are observed too.
  public var observer: (@Sendable (StepObservation) -> Void)?
  /// When false, a session's maximum age is not enforced (see `StepMachine.enforcesMaxAge`).
  public var enforcesMaxAge = true

  public init(
    flow: CompiledFlow, services: any FlowServices, clock: any FlowClock,
    logger: Logger = Logger(label: "flowengine.runner")
  ) {
    self.machine = FlowMachine(flow: flow)
    self.services = services
    self.clock = clock
    self.logger = logger
  }

  public var flow: CompiledFlow { machine.flow }

  /// The session after a step (unchanged when the step was rejected) and what happened.
  public struct StepResult: Sendable {
    public var session: Session
    public var trace: StepTrace
    /// The timers that fell due before the event and fired first, in order.
    public var timers: [StepTrace] = []
    public var accepted: Bool { trace.accepted }

    public init(session: Session, trace: StepTrace, timers: [StepTrace] = []) {
      self.session = session
      self.trace = trace
      self.timers = timers
    }
  }

  /// Starts a session and runs its start state's `always` transitions (which may, for
  /// example, deny an actor right away). Facts come from `facts` (the directory's, read by the
  /// caller); the id should be `SessionID.random()` outside tests.
  public func start(sessionID: String, facts: [String: Value]) throws -> StepResult {
    let session = try machine.makeSession(id: sessionID, facts: facts, now: clock.now())
    return try services.transaction {
      try core.step(session, event: nil, payload: [:], now: clock.now(), on: services)
    }
  }

  /// Sends one event. A rejected event returns the session exactly as it was. Throws only
  /// for infrastructure failures of the services.
  public func send(_ session: Session, _ event: String, _ payload: [String: Value] = [:]) throws
    -> StepResult
  {
    try services.transaction {
      // Timers that fell due before the event fire first, as their own steps.
      let now = clock.now()
      let fired = try core.fireDue(session, now: now, on: services)
      var result = try core.step(
        fired.last?.session ?? session, event: event, payload: payload, now: now, on: services)
      result.timers = fired.map(\.trace)
      return result
    }
  }

  /// Fires every timer of `session` due by now, in due order, each one step; the last result
  /// holds the session after them (none when nothing was due).
  public func fireDue(_ session: Session) throws -> [StepResult] {
    try services.transaction { try core.fireDue(session, now: clock.now(), on: services) }
  }

  /// The session with the directory's current facts filled in, for previews of what an
  /// event would do (`machine.decide`).
  public func withFacts(_ session: Session) throws -> Session {
    let facts = try services.facts(of: session.subjects) ?? [:]
    return StepMachine(
      machine: machine, session: session, facts: facts, factsVersion: [], now: clock.now()
    ).sessionWithFacts
  }

  var core: StepCore {
    StepCore(
      machine: machine, logger: logger, enforcesMaxAge: enforcesMaxAge,
      observer: observer)
  }
}

/// The part of a step every driver shares: facts in, the machine run through the actions in
/// an all-or-nothing attempt, the session's facts version renewed, the step recorded.
struct StepCore {
  let machine: FlowMachine
  let logger: Logger
  let enforcesMaxAge: Bool
  let observer: (@Sendable (StepObservation) -> Void)?
  /// Where its log lines wait for the step's commit (none: they are written at once).
  var log: StepLog? = nil

  private struct RolledBack: Error {
    var next: StepMachine.Next
  }

  /// What a step handles.
  enum Input {
    /// A new session's start (its start state's `always` transitions).
    case start
    case event(String, payload: [String: Value])
    /// The session's next timer, due at or before the step's time.
    case timer
  }

  /// One step of `session` (a start when `event` is nil) inside the caller's transaction.
  func step(
    _ session: Session, event: String?, payload: [String: Value], now: Int,
    on services: any FlowServices
  ) throws -> FlowRunner.StepResult {
    try step(
      session, input: event.map { .event($0, payload: payload) } ?? .start, now: now, on: services)
  }

  /// Fires, in due order, every timer of `session` that falls due at or before `now`, each as
  /// one step at its due time. A firing that is refused spends its timer all the same.
  func fireDue(_ session: Session, now: Int, on services: any FlowServices) throws
    -> [FlowRunner.StepResult]
  {
    var current = session
    var fired: [FlowRunner.StepResult] = []
    while let next = machine.nextTimer(current), next.due <= now {
      let result = try step(
        current, input: .timer, now: max(next.due, current.updatedAt), on: services)
      fired.append(result)
      // A firing always moves the session on (its seq, the timer spent); stop if not.
      guard result.session.seq > current.seq else { break }
      current = result.session
    }
    return fired
  }

  /// One step of `session` inside the caller's transaction.
  func step(
    _ session: Session, input: Input, now: Int, on services: any FlowServices
  ) throws -> FlowRunner.StepResult {
    let facts = try services.facts(of: session.subjects)
    // A subject that is gone has no version: the step is rejected as facts-changed.
    let version = facts == nil ? [-1] : try services.factsVersion(of: session.subjects) ?? [-1]
    let isStart = if case .start = input { true } else { false }
    var stepMachine = StepMachine(
      machine: machine, session: isStart ? withVersion(session, version) : session,
      facts: facts ?? [:], factsVersion: version, now: now)
    stepMachine.enforcesMaxAge = enforcesMaxAge
    stepMachine.reportsEntries = observer != nil
    let observer = self.observer
    if isStart, let observer {
      observer(.entered(state: session.stateID, session: stepMachine.sessionWithFacts))
    }
    let first: StepMachine.Next
    switch input {
    case .start: first = stepMachine.start()
    case .event(let name, let payload): first = stepMachine.receive(name, payload: payload)
    case .timer: first = stepMachine.fire()
    }
    var end: StepMachine.Next
    do {
      end = try services.attempt {
        let end = try stepMachine.run(
          from: first,
          perform: { request in
            observer?(.willPerform(action: request.action, session: request.session))
            return try services.perform(request)
          },
          readFacts: { session in try services.facts(of: session.subjects) ?? [:] },
          entered: observer.map { observe in { observe(.entered(state: $0, session: $1)) } })
        if case .reject = end { throw RolledBack(next: end) }
        return end
      }
    } catch let rolledBack as RolledBack {
      end = rolledBack.next
    }
    switch end {
    case .commit(var next, let trace):
      // The version of the facts as this step left them: a later step compares with it
      // (unchanged when no action of the step could change them).
      next.factsVersion =
        stepMachine.touchedFacts || isStart
        ? try services.factsVersion(of: next.subjects) ?? [-1] : version
      try services.record(trace, of: next)
      next.clearFacts(machine.flow)
      log(trace, session: next)
      return .init(session: next, trace: trace)
    case .reject(let unchanged, let trace):
      // Recorded with the facts of the step (the account), about the unchanged session.
      try services.record(trace, of: stepMachine.sessionWithFacts)
      log(trace, session: unchanged)
      return .init(session: unchanged, trace: trace)
    case .perform, .entered, .readFacts:
      preconditionFailure("a driven step ends in commit or reject")
    }
  }

  private func withVersion(_ session: Session, _ version: [Int]) -> Session {
    var session = session
    session.factsVersion = version
    return session
  }

  private func log(_ trace: StepTrace, session: Session) {
    guard logger.logLevel <= .info else { return }
    var metadata: Logger.Metadata = [
      "flow": "\(machine.flow.id)", "session": "\(session.id)",
      "event": "\(trace.event ?? "(start)")", "from": "\(trace.from)", "to": "\(trace.to)",
      "seq": "\(session.seq)",
    ]
    if let rejection = trace.rejection {
      metadata["rejected"] = "\(rejection.kind)"
      write(.notice, "event rejected", metadata)
    } else {
      if let outcome = trace.outcome { metadata["outcome"] = "\(outcome)" }
      metadata["effects"] = "\(trace.effects.map(\.action).joined(separator: ","))"
      write(.info, "step", metadata)
    }
  }

  private func write(_ level: Logger.Level, _ message: Logger.Message, _ metadata: Logger.Metadata)
  {
    guard let log else { return logger.log(level: level, message, metadata: metadata) }
    log.add(level, message, metadata)
  }
}

/// A step's log lines, written once its transaction has committed: a body that runs again
/// (a retried transaction, or one that went on a thread after the event loop) starts its
/// lines afresh, so a step is logged once, and one that rolled back is not logged.
final class StepLog: Sendable {
  private let lines = Mutex<[(Logger.Level, Logger.Message, Logger.Metadata)]>([])

  func begin() { lines.withLock { $0 = [] } }

  func add(_ level: Logger.Level, _ message: Logger.Message, _ metadata: Logger.Metadata) {
    lines.withLock { $0.append((level, message, metadata)) }
  }

  func write(to logger: Logger) {
    for (level, message, metadata) in lines.withLock({ $0 }) {
      logger.log(level: level, message, metadata: metadata)
    }
  }
}

extension Session {
  /// Drops the facts a step filled in: a session at rest holds none.
  mutating func clearFacts(_ flow: CompiledFlow) {
    for (index, slot) in flow.slots.enumerated() where slot.kind == .fact {
      values[index] = FlowMachine.zero(of: slot.type)
    }
  }
}

/// What a `FlowRunner` observer sees during a step.
public enum StepObservation: Sendable {
  case willPerform(action: String, session: Session)
  case entered(state: Int, session: Session)
}
