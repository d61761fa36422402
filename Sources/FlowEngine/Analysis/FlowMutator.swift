/// A flow with one mistake of the kind people make when they edit one: a guard dropped or
/// negated, an action dropped, a transition sent to another state, two transitions swapped,
/// or an event handler removed from a state. A flow's checks and scenarios should notice each
/// one (`flowctl mutate` scores how many they do).
public struct FlowMutant: Sendable {
  public enum Kind: String, Sendable, CaseIterable {
    case dropGuard = "drop-guard"
    case negateGuard = "negate-guard"
    case dropAction = "drop-action"
    case retarget = "retarget"
    case swapTransitions = "swap-transitions"
    case dropHandler = "drop-handler"
    /// An `after` entry or the deadline removed: time no longer ends anything there.
    case dropTimer = "drop-timer"
  }

  public var kind: Kind
  /// What changed, in words: "drop the guard 'codeAccepted' of checkingCurrentCode (always #1)".
  public var summary: String
  public var location: SourceLocation
  /// The change as lines of a diff against the file: "-        when: codeAccepted".
  public var diff: [String]
  /// The flow with the mistake (not validated yet).
  public var definition: FlowDefinition
}

public enum FlowMutator {
  /// Every mutant of `definition`, in file order. `source` gives the lines shown in diffs.
  public static func mutants(of definition: FlowDefinition, source: SourceText) -> [FlowMutant] {
    var mutants: [FlowMutant] = []
    let stateNames = definition.states.map(\.name.value)
    func line(_ location: SourceLocation) -> String {
      source.line(location.line).map(String.init) ?? ""
    }
    for (stateNumber, state) in definition.states.enumerated() {
      // Each transition list of the state: its handlers', then `always`, then its timers'
      // (handler -1).
      var lists: [(label: String, transitions: [TransitionDefinition], handler: Int?)] = []
      for (handlerNumber, handler) in state.on.enumerated() {
        lists.append(("on '\(handler.event.value)'", handler.transitions, handlerNumber))
      }
      if !state.always.isEmpty { lists.append(("always", state.always, nil)) }
      if !state.after.isEmpty { lists.append(("after", state.after.map(\.transition), -1)) }
      func replacing(_ handler: Int?, with transitions: [TransitionDefinition]) -> FlowDefinition {
        var mutated = definition
        if handler == -1 {
          for index in transitions.indices {
            mutated.states[stateNumber].after[index].transition = transitions[index]
          }
        } else if let handler {
          mutated.states[stateNumber].on[handler].transitions = transitions
        } else {
          mutated.states[stateNumber].always = transitions
        }
        return mutated
      }
      for list in lists {
        for (index, transition) in list.transitions.enumerated() {
          let name =
            "\(state.name.value) \(list.label)\(list.transitions.count > 1 ? " #\(index + 1)" : "") → \(transition.target.value)"
          if let condition = transition.guardSource {
            var dropped = list.transitions
            dropped[index].guardSource = nil
            mutants.append(
              FlowMutant(
                kind: .dropGuard, summary: "drop the guard '\(condition.text)' of \(name)",
                location: condition.location, diff: ["-" + line(condition.location)],
                definition: replacing(list.handler, with: dropped)))
            var negated = list.transitions
            negated[index].guardSource = GuardSource(
              text: "not (\(condition.text))", location: condition.location, columnShift: nil)
            let original = line(condition.location)
            mutants.append(
              FlowMutant(
                kind: .negateGuard, summary: "negate the guard '\(condition.text)' of \(name)",
                location: condition.location,
                diff: [
                  "-" + original,
                  "+" + original.replacingFirst(condition.text, with: "not (\(condition.text))"),
                ],
                definition: replacing(list.handler, with: negated)))
          }
          for (actionNumber, action) in transition.actions.enumerated() {
            var dropped = list.transitions
            dropped[index].actions.remove(at: actionNumber)
            mutants.append(
              FlowMutant(
                kind: .dropAction, summary: "drop the action '\(action.name.value)' of \(name)",
                location: action.name.location, diff: ["-" + line(action.name.location)],
                definition: replacing(list.handler, with: dropped)))
          }
          for other in stateNames where other != transition.target.value {
            var retargeted = list.transitions
            retargeted[index].target = Located(other, at: transition.target.location)
            let original = line(transition.target.location)
            mutants.append(
              FlowMutant(
                kind: .retarget, summary: "send \(name) to '\(other)' instead",
                location: transition.target.location,
                diff: [
                  "-" + original,
                  "+" + original.replacingFirst(transition.target.value, with: other),
                ],
                definition: replacing(list.handler, with: retargeted)))
          }
          // Timers are grouped by delay, not by order: swapping two says nothing new.
          if index + 1 < list.transitions.count, list.handler != -1 {
            var swapped = list.transitions
            swapped.swapAt(index, index + 1)
            let next = list.transitions[index + 1]
            mutants.append(
              FlowMutant(
                kind: .swapTransitions,
                summary:
                  "swap \(name) with the next transition (→ \(next.target.value)) of \(state.name.value) \(list.label)",
                location: transition.location,
                diff: [
                  "-" + line(transition.location), "-" + line(next.location),
                  "+" + line(next.location), "+" + line(transition.location),
                ],
                definition: replacing(list.handler, with: swapped)))
          }
        }
      }
      for (handlerNumber, handler) in state.on.enumerated() {
        var mutated = definition
        mutated.states[stateNumber].on.remove(at: handlerNumber)
        mutants.append(
          FlowMutant(
            kind: .dropHandler,
            summary: "drop the handler of '\(handler.event.value)' in \(state.name.value)",
            location: handler.event.location, diff: ["-" + line(handler.event.location)],
            definition: mutated))
      }
      for (timerNumber, timer) in state.after.enumerated() {
        var mutated = definition
        mutated.states[stateNumber].after.remove(at: timerNumber)
        mutants.append(
          FlowMutant(
            kind: .dropTimer,
            summary:
              "drop the timer 'after \(timer.delay.value)' → \(timer.transition.target.value) of \(state.name.value)",
            location: timer.delay.location, diff: ["-" + line(timer.delay.location)],
            definition: mutated))
      }
    }
    if let deadline = definition.deadline {
      var mutated = definition
      mutated.deadline = nil
      mutants.append(
        FlowMutant(
          kind: .dropTimer,
          summary:
            "drop the deadline (\(deadline.delay.value) → \(deadline.transition.target.value))",
          location: deadline.delay.location, diff: ["-" + line(deadline.delay.location)],
          definition: mutated))
    }
    return mutants
  }
}

extension String {
  fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
    guard !target.isEmpty, let range = range(of: target) else { return self }
    return replacingCharacters(in: range, with: replacement)
  }
}
