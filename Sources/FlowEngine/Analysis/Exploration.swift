internal import Synchronization

/// Services the path explorer can drive: their state can be saved and put back, summarised
/// into what can change how a flow goes on, and they say which payload values to try.
public protocol ExplorableServices: FlowServices {
  associatedtype Saved: Sendable
  func save() -> Saved
  func restore(_ saved: Saved)
  /// Everything of the services' state that can change what happens next in `session` (no
  /// ids, times or history), so that equal fingerprints can be explored once.
  func fingerprint(for session: Session, now: Int) -> String
  /// The payload values worth trying for a field, each with how an events file spells it.
  func candidates(for type: ValueType, field: String, session: Session, now: Int)
    -> [ExplorationInput]
}

/// A payload value to try, and its spelling in an events file (`$received`, `"000000"`).
public struct ExplorationInput: Sendable, Hashable {
  public var value: Value
  public var spelled: String

  public init(value: Value, spelled: String) {
    self.value = value
    self.spelled = spelled
  }
}

/// Where exploration starts: who the session is for, with the facts the directory gives.
public struct ExplorationStart: Sendable {
  public var label: String
  public var actor: String
  public var target: String
  public var facts: [String: Value]

  public init(label: String, actor: String, target: String, facts: [String: Value]) {
    self.label = label
    self.actor = actor
    self.target = target
    self.facts = facts
  }
}

/// One step of an explored path, as an events file writes it.
public enum ExplorationStep: Sendable, Hashable, CustomStringConvertible {
  case event(name: String, payload: [(name: String, spelled: String)])
  case wait(seconds: Int)

  public static func == (lhs: ExplorationStep, rhs: ExplorationStep) -> Bool {
    lhs.description == rhs.description
  }

  public func hash(into hasher: inout Hasher) { hasher.combine(description) }

  /// The line of an events file: `- submitCode: { code: $received }`, `- wait: 11m`.
  public var description: String {
    switch self {
    case .wait(let seconds): "- wait: \(Value.format(duration: seconds))"
    case .event(let name, let payload):
      payload.isEmpty
        ? "- \(name)"
        : "- \(name): { " + payload.map { "\($0.name): \($0.spelled)" }.joined(separator: ", ")
          + " }"
    }
  }
}

/// A path from a start: the steps, the states it rests in after each, and its last trace.
public struct ExploredPath: Sendable {
  public var start: ExplorationStart
  public var steps: [ExplorationStep]
  /// The state the session rests in after each step (the first is the state after starting).
  public var states: [String]

  public init(start: ExplorationStart, steps: [ExplorationStep], states: [String]) {
    self.start = start
    self.steps = steps
    self.states = states
  }

  /// The path as an events file.
  public var eventsFile: String {
    steps.map(\.description).joined(separator: "\n") + (steps.isEmpty ? "[]\n" : "\n")
  }
}

/// The outcome of one check.
public struct CheckResult: Sendable {
  public var check: CompiledCheck
  /// nil when the check holds on every explored path.
  public var counterexample: Counterexample?
  public var passed: Bool { counterexample == nil }

  public init(check: CompiledCheck, counterexample: Counterexample?) {
    self.check = check
    self.counterexample = counterexample
  }
}

public struct Counterexample: Sendable {
  public var path: ExploredPath
  /// What went wrong at the end of the path, with the values seen.
  public var message: String

  public init(path: ExploredPath, message: String) {
    self.path = path
    self.message = message
  }
}
