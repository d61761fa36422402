public import FlowEngine

/// What scenarios exercised in one flow: states entered, transitions taken, and the outcomes
/// (true and false) of every guarded transition's condition.
public struct Coverage: Sendable {
  public let flowID: String
  public private(set) var states: [String: Bool] = [:]
  /// Keyed `from --event[index]--> to` (or `always[index]`).
  public private(set) var transitions: [String: Bool] = [:]
  /// Keyed by transition key and ` when true` / ` when false`.
  public private(set) var guardOutcomes: [String: Bool] = [:]

  public init(flow: CompiledFlow) {
    flowID = flow.id
    for state in flow.states { states[state.name] = false }
    for state in flow.states {
      for (eventID, list) in state.handlers.enumerated() {
        for (index, transition) in list.enumerated() {
          let key = Self.key(
            state.name, flow.events[eventID].name, index, flow.states[transition.target].name)
          transitions[key] = false
          if transition.condition != nil {
            guardOutcomes[key + " when true"] = false
            guardOutcomes[key + " when false"] = false
          }
        }
      }
      let lists = [("always", state.always), ("after", state.timers.map(\.transition))]
      for (trigger, list) in lists {
        for (index, transition) in list.enumerated() {
          let key = Self.key(state.name, trigger, index, flow.states[transition.target].name)
          transitions[key] = false
          if transition.condition != nil {
            guardOutcomes[key + " when true"] = false
            guardOutcomes[key + " when false"] = false
          }
        }
      }
    }
  }

  /// The list a traced transition was taken from: the event's, `always`, `after`, or the
  /// deadline's.
  static func list(of transition: TransitionTrace, from: Int, flow: CompiledFlow)
    -> [CompiledTransition]
  {
    switch transition.timer {
    case "after": return flow.states[from].timers.map(\.transition)
    case "deadline": return flow.deadline.map { [$0.transition] } ?? []
    default:
      if let event = transition.event, let eventID = flow.eventIndex[event] {
        return flow.states[from].handlers[eventID]
      }
      return flow.states[from].always
    }
  }

  static func key(_ from: String, _ trigger: String, _ index: Int, _ to: String) -> String {
    "\(from) --\(trigger)[\(index)]--> \(to)"
  }

  mutating func record(_ trace: StepTrace, flow: CompiledFlow, initialState: Int?) {
    if let initialState { states[flow.states[initialState].name] = true }
    for transition in trace.transitions {
      states[transition.to] = true
      guard let from = flow.stateIndex[transition.from] else { continue }
      let list = Self.list(of: transition, from: from, flow: flow)
      let trigger = transition.trigger
      guard transition.index < list.count else { continue }
      // The deadline is one transition of the flow, whichever state it fires in.
      if trigger == "deadline" { continue }
      transitions[
        Self.key(
          transition.from, trigger, transition.index,
          flow.states[list[transition.index].target].name)] = true
      // The guards tried are those of the conditional transitions up to the one taken, in order.
      recordGuards(
        transition.guards, list: list, upTo: transition.index, from: transition.from,
        trigger: trigger, flow: flow)
    }
    if case .noTransitionEnabled(let event, let state, let tried) = trace.rejection,
      let from = flow.stateIndex[state], let eventID = flow.eventIndex[event]
    {
      let list = flow.states[from].handlers[eventID]
      recordGuards(tried, list: list, upTo: list.count - 1, from: state, trigger: event, flow: flow)
    }
  }

  private mutating func recordGuards(
    _ guards: [GuardTrace], list: [CompiledTransition], upTo last: Int, from: String,
    trigger: String, flow: CompiledFlow
  ) {
    var remaining = guards[...]
    for index in 0...max(0, last) where index < list.count && list[index].condition != nil {
      guard let trace = remaining.popFirst() else { break }
      let key = Self.key(from, trigger, index, flow.states[list[index].target].name)
      guardOutcomes[key + (trace.value ? " when true" : " when false")] = true
    }
  }

  public var statesCovered: Int { states.values.filter { $0 }.count }
  public var transitionsCovered: Int { transitions.values.filter { $0 }.count }
  public var guardOutcomesCovered: Int { guardOutcomes.values.filter { $0 }.count }

  public var missedStates: [String] { states.filter { !$0.value }.keys.sorted() }
  public var missedTransitions: [String] { transitions.filter { !$0.value }.keys.sorted() }
  public var missedGuardOutcomes: [String] { guardOutcomes.filter { !$0.value }.keys.sorted() }
}
