/// What the runtime needs from a host within one step: perform named actions, read the facts
/// of the directory, keep a step's effects all or nothing, and hear about every step (for its
/// audit log). The engine knows nothing of the domain behind it.
///
/// Implementations: the in-memory services (tests, dry runs) and a durable store's step
/// transaction, where every call below runs inside one database transaction.
public protocol FlowServices: AnyObject, Sendable {
  /// Performs one action of the catalog. Throwing `ActionFailure` is the action refusing (the
  /// step is rejected); any other error is an infrastructure failure and aborts the step.
  func perform(_ request: ActionRequest) throws -> [String: Value]
  /// Runs a whole step (reading facts, performing actions, recording it) with no other step
  /// of these services in between.
  func transaction<T>(_ body: () throws -> T) throws -> T
  /// Runs `body` so that either every effect it has is kept, or none is, except the effects the
  /// domain marks as surviving a rollback (failed verifications and their audit entries,
  /// SECURITY.md 26), which are kept in any case.
  func attempt<T>(_ body: () throws -> T) throws -> T
  /// Called inside the step's transaction after every step, accepted or rejected, once its
  /// effects are settled.
  func record(_ trace: StepTrace, of session: Session) throws
  /// The facts the directory holds now about a session's subjects (`actor` → a user id), by
  /// slot name (`actor.role`); nil when a subject no longer exists.
  func facts(of subjects: [String: String]) throws -> [String: Value]?
  /// The directory's version of each subject, in the order of their context fields' names:
  /// a version goes up whenever any fact of its subject changes, and reveals no fact. nil
  /// when a subject no longer exists.
  func factsVersion(of subjects: [String: String]) throws -> [Int]?
  /// The key sessions of these services are signed with and their facts digested with.
  var sessionKey: SessionKey { get }
}

/// One action to perform, with evaluated arguments and the session it is performed for.
public struct ActionRequest: Sendable {
  public var action: String
  public var arguments: [String: Value]
  /// The session as it is when the action runs (earlier results of the step included, facts
  /// as the directory gave them at the start of the step).
  public var session: Session
  /// The injected clock's time, seconds since 1970 (UTC).
  public var now: Int
  /// The flow's wording of the messages the services send.
  public var messages: FlowMessages

  public init(
    action: String, arguments: [String: Value], session: Session, now: Int,
    messages: FlowMessages = FlowMessages()
  ) {
    self.action = action
    self.arguments = arguments
    self.session = session
    self.now = now
    self.messages = messages
  }
}

/// An action that refused or failed; the step is rejected and nothing of it is kept.
public struct ActionFailure: Error, Sendable, Hashable {
  public var message: String

  public init(_ message: String) {
    self.message = message
  }
}

/// Time, injected: tests and dry runs move it by hand, deadlines are absolute, so a session's
/// deadlines survive a restart.
public protocol FlowClock: Sendable {
  /// Seconds since 1970 (UTC).
  func now() -> Int
}
