/// What the runtime needs from a host: perform named actions, keep a step's effects all or
/// nothing, and hear about every step (for its audit log).
///
/// Implementations exist in memory (tests, dry runs) and, later, on a durable store; the engine
/// knows nothing of the domain behind them.
public protocol FlowServices: AnyObject, Sendable {
  /// Performs one action of the catalog. Throwing aborts the whole step.
  func perform(_ request: ActionRequest) throws(ActionFailure) -> [String: Value]
  /// Runs `body` so that either every effect it has on the services is kept, or none is.
  func atomically<T>(_ body: () throws -> T) throws -> T
  /// Called after every step, accepted or rejected, once its effects are settled.
  func record(_ trace: StepTrace, of session: Session)
}

/// One action to perform, with evaluated arguments and the session it is performed for.
public struct ActionRequest: Sendable {
  public var action: String
  public var arguments: [String: Value]
  /// The session as it is when the action runs (earlier results of the step included).
  public var session: Session
  /// The injected clock's time, seconds since 1970 (UTC).
  public var now: Int

  public init(action: String, arguments: [String: Value], session: Session, now: Int) {
    self.action = action
    self.arguments = arguments
    self.session = session
    self.now = now
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
