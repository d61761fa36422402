public import Logging

/// Runs sessions of one flow against the services: asks the pure `FlowMachine` what to do,
/// performs the planned actions through `FlowServices`, and keeps all of a step or none of it.
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

  public init(
    flow: CompiledFlow, services: any FlowServices, clock: any FlowClock,
    logger: Logger = Logger(label: "flowengine.runner")
  ) {
    self.machine = FlowMachine(flow: flow)
    self.services = services
    self.clock = clock
    self.logger = logger
  }

  private func log(_ trace: StepTrace, session: Session) {
    var metadata: Logger.Metadata = [
      "flow": "\(flow.id)", "session": "\(session.id)", "event": "\(trace.event ?? "(start)")",
      "from": "\(trace.from)", "to": "\(trace.to)",
    ]
    if let rejection = trace.rejection {
      metadata["rejected"] = "\(rejection.kind)"
      logger.notice("event rejected", metadata: metadata)
    } else {
      if let outcome = trace.outcome { metadata["outcome"] = "\(outcome)" }
      metadata["effects"] = "\(trace.effects.map(\.action).joined(separator: ","))"
      logger.info("step", metadata: metadata)
    }
  }

  public var flow: CompiledFlow { machine.flow }

  /// The session after a step (unchanged when the step was rejected) and what happened.
  public struct StepResult: Sendable {
    public var session: Session
    public var trace: StepTrace
    public var accepted: Bool { trace.accepted }
  }

  /// Starts a session and runs its start state's `always` transitions (which may, for
  /// example, deny an actor right away).
  public func start(sessionID: String, facts: [String: Value]) throws(FlowMachine.StartError)
    -> StepResult
  {
    let session = try machine.makeSession(id: sessionID, facts: facts, now: clock.now())
    observer?(.entered(state: session.stateID, session: session))
    return run(session, event: nil, first: nil)
  }

  /// Sends one event. A rejected event returns the session exactly as it was.
  public func send(_ session: Session, _ event: String, _ payload: [String: Value] = [:])
    -> StepResult
  {
    switch machine.decide(session, event: event, payload: payload) {
    case .rejected(let rejection):
      return reject(session, event: event, payload: payload, rejection)
    case .accepted(let choice):
      return run(session, event: event, first: choice, rawPayload: payload)
    }
  }

  private struct Aborted: Error {
    var rejection: Rejection
  }

  private func run(
    _ session: Session, event: String?, first: FlowMachine.Choice?,
    rawPayload: [String: Value] = [:]
  ) -> StepResult {
    let now = clock.now()
    var transitions: [TransitionTrace] = []
    var working = session
    do {
      try services.atomically {
        var next = first ?? machine.decideAlways(working)
        var isEventless = first == nil
        var count = 0
        while let choice = next {
          if isEventless {
            count += 1
            if count > machine.alwaysLimit {
              throw Aborted(rejection: .runaway(state: working.state, limit: machine.alwaysLimit))
            }
          }
          let from = working.state
          var effects: [EffectTrace] = []
          for action in choice.transition.actions {
            observer?(.willPerform(action: action.name, session: working))
            let arguments = machine.arguments(of: action, in: working, payload: choice.payload)
            let results: [String: Value]
            do {
              results = try services.perform(
                ActionRequest(action: action.name, arguments: arguments, session: working, now: now)
              )
            } catch let failure as ActionFailure {
              throw Aborted(rejection: .actionFailed(action: action.name, message: failure.message))
            }
            machine.record(results, of: action, in: &working)
            effects.append(effect(action, arguments: arguments, results: results))
          }
          machine.enter(choice.transition, session: &working, now: now)
          observer?(.entered(state: choice.transition.target, session: working))
          transitions.append(
            TransitionTrace(
              from: from, to: working.state, isEventless: isEventless,
              event: isEventless ? nil : event, index: choice.index, guards: choice.guards,
              effects: effects))
          next = machine.decideAlways(working)
          isEventless = true
        }
      }
    } catch let aborted as Aborted {
      return reject(session, event: event ?? "(start)", payload: rawPayload, aborted.rejection)
    } catch {
      return reject(
        session, event: event ?? "(start)", payload: rawPayload,
        .actionFailed(action: "(step)", message: "\(error)"))
    }
    if event != nil { working.steps += 1 }
    let trace = StepTrace(
      event: event, payload: displayed(rawPayload, event: event), from: session.state,
      to: working.state,
      rejection: nil, transitions: transitions, outcome: working.outcome)
    services.record(trace, of: working)
    log(trace, session: working)
    return StepResult(session: working, trace: trace)
  }

  private func reject(
    _ session: Session, event: String, payload: [String: Value], _ rejection: Rejection
  ) -> StepResult {
    let trace = StepTrace(
      event: event, payload: displayed(payload, event: event), from: session.state,
      to: session.state,
      rejection: rejection, transitions: [], outcome: nil)
    services.record(trace, of: session)
    log(trace, session: session)
    return StepResult(session: session, trace: trace)
  }

  private func effect(
    _ action: CompiledAction, arguments: [String: Value], results: [String: Value]
  ) -> EffectTrace {
    let signature = flow.catalog.actions[action.name]
    let shownArguments = arguments.keys.sorted().map { name -> GuardTrace.Named in
      let type = signature?.parameters.first { $0.name == name }?.type ?? .string
      return .init(name: name, value: machine.display(arguments[name]!, as: type))
    }
    let shownResults = results.keys.sorted().map { name -> GuardTrace.Named in
      let type = signature?.result.first { $0.name == name }?.type ?? .string
      return .init(name: name, value: machine.display(results[name]!, as: type))
    }
    return EffectTrace(action: action.name, arguments: shownArguments, results: shownResults)
  }

  /// The payload as it may be shown: declared fields masked or hidden by type; anything else
  /// (undeclared fields, unknown events) hidden entirely, since its type is unknown.
  private func displayed(_ payload: [String: Value], event: String?) -> [GuardTrace.Named] {
    let fields = event.flatMap { flow.eventIndex[$0] }.map { flow.events[$0].fields } ?? []
    return payload.keys.sorted().map { name in
      guard let field = fields.first(where: { $0.name == name }) else {
        return .init(name: name, value: "[hidden]")
      }
      let value = machine.normalize(payload[name]!, as: field.type)
      switch value {
      case .success(let normalized):
        return .init(name: name, value: machine.display(normalized, as: field.type))
      case .failure: return .init(name: name, value: "[invalid]")
      }
    }
  }
}

/// What a `FlowRunner` observer sees during a step.
public enum StepObservation: Sendable {
  case willPerform(action: String, session: Session)
  case entered(state: Int, session: Session)
}
