/// What one guard evaluation saw: the condition as written, its value, the named guards it used
/// and the values it read (masked or hidden as the catalog says; a code never appears).
public struct GuardTrace: Sendable, Hashable, CustomStringConvertible {
  public var condition: String
  public var value: Bool
  public var guards: [Named]
  public var inputs: [Named]

  public struct Named: Sendable, Hashable {
    public var name: String
    public var value: String
  }

  public var description: String {
    var text = "\(condition) → \(value)"
    let seen = guards.map { "\($0.name)=\($0.value)" } + inputs.map { "\($0.name)=\($0.value)" }
    if !seen.isEmpty { text += " (\(seen.joined(separator: ", ")))" }
    return text
  }
}

/// One action performed during a step, with its arguments and results as displayed.
public struct EffectTrace: Sendable, Hashable, CustomStringConvertible {
  public var action: String
  public var arguments: [GuardTrace.Named]
  public var results: [GuardTrace.Named]

  public var description: String {
    let args = arguments.map { "\($0.name): \($0.value)" }.joined(separator: ", ")
    var text = "\(action)(\(args))"
    if !results.isEmpty {
      text += " → " + results.map { "\($0.name)=\($0.value)" }.joined(separator: ", ")
    }
    return text
  }
}

/// One transition taken within a step: the event's own, or an eventless `always` one.
public struct TransitionTrace: Sendable, Hashable {
  public var from: String
  public var to: String
  public var isEventless: Bool
  /// The event handled, nil for `always` transitions.
  public var event: String?
  /// Position of the transition in its list (the event's transitions, or `always`).
  public var index: Int
  public var guards: [GuardTrace]
  public var effects: [EffectTrace]
  /// For a timer's transition: `after` (an entry of the state's `after`, `index` its
  /// position) or `deadline`; nil otherwise.
  public var timer: String? = nil

  /// What took the transition, as coverage keys and diagrams name it: the event, `always`,
  /// `after` or `deadline`.
  public var trigger: String { timer ?? event ?? "always" }
}

/// Everything a step did or why it did nothing: for dry runs, tests and the audit log.
public struct StepTrace: Sendable, Hashable {
  /// nil for the start of a session (its initial `always` transitions).
  public var event: String?
  /// The payload as displayed (codes hidden, phone numbers masked).
  public var payload: [GuardTrace.Named]
  public var from: String
  public var to: String
  public var rejection: Rejection?
  public var transitions: [TransitionTrace]
  /// Set when the step ended the session.
  public var outcome: String?
  /// Set when a timer fired the step: `after 15m in editingPhone`, `deadline 1h`.
  public var timer: String? = nil

  public init(
    event: String?, payload: [GuardTrace.Named], from: String, to: String,
    rejection: Rejection?, transitions: [TransitionTrace], outcome: String?,
    timer: String? = nil
  ) {
    self.event = event
    self.payload = payload
    self.from = from
    self.to = to
    self.rejection = rejection
    self.transitions = transitions
    self.outcome = outcome
    self.timer = timer
  }

  public var accepted: Bool { rejection == nil }
  /// Every guard evaluated, in order (including those of a rejection).
  public var guards: [GuardTrace] {
    if case .noTransitionEnabled(_, _, let tried) = rejection { return tried }
    return transitions.flatMap(\.guards)
  }
  public var effects: [EffectTrace] { transitions.flatMap(\.effects) }
}
