public import FlowEngine
internal import Foundation
internal import Synchronization

/// The 2FA services in memory: the directory, codes, delivery into simulated inboxes, the
/// audit log and call routing. Used by tests and dry runs; nothing leaves the process.
///
/// A step is atomic: `atomically` keeps a copy of the whole state and puts it back if any
/// action of the step fails.
public final class InMemoryAccountSecurity: FlowServices {
  private let state: Mutex<AccountSecurityState>
  private let stepLock = SpinLock()
  public let clock: any FlowClock
  public let codes: any CodeGenerator
  public let policy: CodePolicy
  /// Faults to inject, by action name: the next call of that action fails with the message.
  private let faults = Mutex<[String: String]>([:])

  /// Makes the next call of `action` fail (to test that a step is kept whole or not at all).
  public func failNext(_ action: String, message: String = "injected failure") {
    faults.withLock { $0[action] = message }
  }

  public init(
    state: AccountSecurityState = AccountSecurityState(), clock: any FlowClock,
    codes: any CodeGenerator = SecureCodeGenerator(), policy: CodePolicy = CodePolicy()
  ) {
    self.state = Mutex(state)
    self.clock = clock
    self.codes = codes
    self.policy = policy
  }

  /// A copy of everything the services hold now.
  public var snapshot: AccountSecurityState { state.withLock { $0 } }

  /// Changes the state outside any flow (test set-up).
  public func update(_ change: (inout AccountSecurityState) -> Void) {
    state.withLock { change(&$0) }
  }

  /// The facts for a session of a flow with `actor` and `target`, or the unknown user id.
  public func facts(actor: String, target: String) -> Result<[String: Value], UnknownUser> {
    let current = snapshot
    guard let actorFacts = current.facts(of: actor, as: "actor") else {
      return .failure(UnknownUser(id: actor))
    }
    guard let targetFacts = current.facts(of: target, as: "target") else {
      return .failure(UnknownUser(id: target))
    }
    return .success(actorFacts.merging(targetFacts) { first, _ in first })
  }

  // MARK: - FlowServices

  public func atomically<T>(_ body: () throws -> T) throws -> T {
    try stepLock.withLock {
      let saved = snapshot
      do {
        return try body()
      } catch {
        state.withLock { $0 = saved }
        throw error
      }
    }
  }

  public func perform(_ request: ActionRequest) throws(ActionFailure) -> [String: Value] {
    if let fault = faults.withLock({ $0.removeValue(forKey: request.action) }) {
      throw ActionFailure(fault)
    }
    let context = SessionContext(request.session)
    return try state.withLock {
      (state: inout AccountSecurityState) throws(ActionFailure) -> [String: Value] in
      var actions = Actions(
        state: state, request: request, context: context, codes: codes, policy: policy)
      let result = try actions.perform()
      state = actions.state
      return result
    }
  }

  public func record(_ trace: StepTrace, of session: Session) {
    let context = SessionContext(session)
    let time = clock.now()
    state.withLock { state in
      let detail: String
      let kind: AuditEntry.Kind
      if let rejection = trace.rejection {
        kind = .eventRejected
        detail = "\(trace.event ?? "(start)") rejected in \(trace.from): \(rejection.kind)"
      } else {
        kind = .step
        detail = "\(trace.event ?? "(start)"): \(trace.from) → \(trace.to)"
      }
      state.audit.append(
        context.entry(
          kind, at: time, outcome: trace.outcome ?? (trace.accepted ? "accepted" : "rejected"),
          detail: detail))
    }
  }
}

/// Limits the code service applies whatever a flow says (SECURITY.md 2, 9, 10).
public struct CodePolicy: Sendable, Hashable {
  /// Longest life of a code, in seconds.
  public var maxTTL = 600
  /// Shortest time between two sends to one user, in seconds.
  public var resendCooldown = 30
  /// Highest lockout limit a flow may ask for.
  public var maxAttemptsCeiling = 100

  public init() {}
}

/// An id the directory does not know.
public struct UnknownUser: Error, Sendable, Hashable, CustomStringConvertible {
  public var id: String
  /// Set when the user exists but their profile does not fit the flow's context.
  public var problem: String?

  public init(id: String, problem: String? = nil) {
    self.id = id
    self.problem = problem
  }

  public var description: String {
    problem.map { "user '\(id)' cannot start this flow: \($0)" } ?? "unknown user '\(id)'"
  }
}

/// Who a session is for, read from its facts.
struct SessionContext {
  var session: String
  var flow: String
  var actor: String
  var target: String
  var account: String

  init(_ session: Session) {
    func text(_ name: String) -> String {
      if case .string(let value) = session.value(name) { return value }
      return ""
    }
    self.session = session.id
    self.flow = session.flowID
    self.actor = text("actor.id")
    self.target = text("target.id")
    self.account = text("target.account")
  }

  func entry(_ kind: AuditEntry.Kind, at time: Int, outcome: String, detail: String) -> AuditEntry {
    AuditEntry(
      time: AuditClock.iso8601(time), kind: kind, actor: actor, target: target, account: account,
      flow: flow,
      session: session, outcome: outcome, detail: detail)
  }
}

enum AuditClock {
  static func iso8601(_ seconds: Int) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
  }
}
