/// Why an event was not taken. A rejected event leaves the session exactly as it was.
public enum Rejection: Sendable, Hashable, CustomStringConvertible {
  /// The flow declares no such event.
  case unknownEvent(event: String, declared: [String])
  /// The event exists but this state does not accept it.
  case notAccepted(event: String, state: String, accepted: [String])
  /// A payload field is missing, undeclared or not a valid value of its type.
  case invalidPayload(event: String, field: String, problem: String)
  /// The state accepts the event but no transition's guard held.
  case noTransitionEnabled(event: String, state: String, guards: [GuardTrace])
  /// An action refused or failed; nothing of the step was kept.
  case actionFailed(action: String, message: String)
  /// The session already ended.
  case sessionEnded(state: String, outcome: String)
  /// `always` transitions kept firing past the bound (a validated flow cannot do this).
  case runaway(state: String, limit: Int)
  /// The session is past its maximum age; every later event is rejected (SECURITY.md 27).
  case sessionExpired(expiredAt: Int)
  /// The directory's facts about the session's actor or target changed since its last step
  /// (someone else changed them, or a user is gone): the session cannot go on (SECURITY.md 25).
  case factsChanged
  /// The step named a `seq` the session no longer has: another step came first. Only the
  /// durable engine reports it (as a typed conflict); it is audited like a rejection.
  case conflict(expected: Int, current: Int)
  /// The step would break one of the flow's `checks:` (an action performed, or a state entered,
  /// where the check's condition does not hold): nothing of it is kept. The checker proves this
  /// never happens; the engine enforces it on every step anyway.
  case checkViolated(check: String, reason: String)

  /// Every `kind` there is (what a scenario's `rejected:` may name).
  public static let kinds = [
    "not-accepted", "guard-false", "invalid-payload", "action-failed", "session-ended",
    "session-expired", "facts-changed", "check-violated", "unknown-event", "runaway", "conflict",
  ]

  /// A stable kebab-case name for tools and tests.
  public var kind: String {
    switch self {
    case .unknownEvent: "unknown-event"
    case .notAccepted: "not-accepted"
    case .invalidPayload: "invalid-payload"
    case .noTransitionEnabled: "guard-false"
    case .actionFailed: "action-failed"
    case .sessionEnded: "session-ended"
    case .runaway: "runaway"
    case .sessionExpired: "session-expired"
    case .factsChanged: "facts-changed"
    case .conflict: "conflict"
    case .checkViolated: "check-violated"
    }
  }

  public var description: String {
    switch self {
    case .unknownEvent(let event, let declared):
      return "unknown event '\(event)'; the flow declares: \(declared.joined(separator: ", "))"
    case .notAccepted(let event, let state, let accepted):
      let list = accepted.isEmpty ? "none" : accepted.joined(separator: ", ")
      return "event '\(event)' is not accepted in state '\(state)'; it accepts: \(list)"
    case .invalidPayload(let event, let field, let problem):
      return "invalid payload for '\(event)': field '\(field)' \(problem)"
    case .noTransitionEnabled(let event, let state, let guards):
      let tried = guards.map { "\($0)" }.joined(separator: "; ")
      return "no transition for '\(event)' in state '\(state)' is enabled: \(tried)"
    case .actionFailed(let action, let message):
      return "action '\(action)' failed: \(message)"
    case .sessionEnded(let state, let outcome):
      return "the session has ended in state '\(state)' (outcome \(outcome))"
    case .runaway(let state, let limit):
      return "more than \(limit) 'always' transitions in one step, last in state '\(state)'"
    case .sessionExpired:
      return "the session has expired; start a new one"
    case .conflict(let expected, let current):
      return "the session is at seq \(current), not \(expected); another step came first"
    case .factsChanged:
      return
        "the actor's or the target's profile changed since the last step of this session; start a new one"
    case .checkViolated(let check, let reason):
      return "the step would break the check '\(check)': \(reason)"
    }
  }
}
