public import FlowEngine
internal import Foundation
internal import Synchronization

/// The 2FA services in memory: the directory, codes, delivery into simulated inboxes, the
/// audit log and call routing. Used by tests and dry runs; nothing leaves the process.
///
/// A step holds the services' lock from start to end (audit entries included), and keeps all of
/// its changes or none: the tables journal each change and undo exactly those on failure, so a
/// step costs the same after a million steps as after one.
public final class InMemoryAccountSecurity: FlowServices, @unchecked Sendable {
  let tables: InMemoryTables
  let lock = ReentrantLock()
  public let clock: any FlowClock
  public let codes: any CodeGenerator
  public let policy: CodePolicy
  public let sessionKey: SessionKey
  /// The 2FA actions, with a secret derived from the session key for code hashes.
  public let domain: AccountSecurityDomain
  /// Faults to inject, by action name: the next call of that action fails with the message.
  private var faults: [String: String] = [:]

  /// Makes the next call of `action` fail (to test that a step is kept whole or not at all).
  public func failNext(_ action: String, message: String = "injected failure") {
    lock.withLock { faults[action] = message }
  }

  public init(
    state: AccountSecurityState = AccountSecurityState(), clock: any FlowClock,
    codes: any CodeGenerator = SecureCodeGenerator(), policy: CodePolicy = CodePolicy(),
    sessionKey: SessionKey = .random()
  ) {
    self.tables = InMemoryTables(state)
    self.clock = clock
    self.codes = codes
    self.policy = policy
    self.sessionKey = sessionKey
    self.domain = AccountSecurityDomain(
      codes: codes, policy: policy,
      secret: IssuedCode.mac(Array("codes v1".utf8), secret: sessionKey.bytes))
  }

  /// A copy of everything the services hold now.
  public var snapshot: AccountSecurityState { lock.withLock { tables.state } }

  /// Changes the state outside any flow (test set-up).
  public func update(_ change: (inout AccountSecurityState) -> Void) {
    lock.withLock { tables.replace(change) }
  }

  /// The facts for a session of a flow with `actor` and `target`, or the unknown user id.
  public func facts(actor: String, target: String) -> Result<[String: Value], UnknownUser> {
    lock.withLock {
      guard let actorFacts = tables.user(actor)?.facts(as: "actor") else {
        return .failure(UnknownUser(id: actor))
      }
      guard let targetFacts = tables.user(target)?.facts(as: "target") else {
        return .failure(UnknownUser(id: target))
      }
      return .success(actorFacts.merging(targetFacts) { first, _ in first })
    }
  }

  /// The code a person would read off the phone now: the last one delivered to the
  /// destination of the session's newest code.
  public func receivedCode(for session: Session) -> String? {
    lock.withLock { tables.receivedCode(forSession: session.id) }
  }

  // MARK: - FlowServices

  public func transaction<T>(_ body: () throws -> T) throws -> T {
    try lock.withLock {
      defer { tables.commit() }
      return try body()
    }
  }

  public func attempt<T>(_ body: () throws -> T) throws -> T {
    try lock.withLock { try tables.attempt(body) }
  }

  public func facts(of subjects: [String: String]) -> [String: Value]? {
    lock.withLock { try? tables.currentFacts(of: subjects) } ?? nil
  }

  public func factsVersion(of subjects: [String: String]) -> [Int]? {
    lock.withLock { try? tables.factsVersion(of: subjects) } ?? nil
  }

  public func perform(_ request: ActionRequest) throws -> [String: Value] {
    try lock.withLock {
      if let fault = faults.removeValue(forKey: request.action) {
        throw ActionFailure(fault)
      }
      return try domain.perform(request, on: tables)
    }
  }

  public func record(_ trace: StepTrace, of session: Session) {
    let entry = SessionContext(session).stepEntry(trace, of: session, at: clock.now())
    lock.withLock { tables.audit(entry) }
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

/// Who a session is for, read from its subjects (never from its facts).
struct SessionContext {
  var session: String
  var flow: String
  var actor: String
  var target: String
  var account: String

  init(_ session: Session) {
    self.session = session.id
    self.flow = session.flowID
    self.actor = session.subjects["actor"] ?? ""
    self.target = session.subjects["target"] ?? ""
    if case .string(let account) = session.value("target.account") {
      self.account = account
    } else {
      self.account = ""
    }
  }

  func entry(_ kind: AuditEntry.Kind, at time: Int, outcome: String, detail: String) -> AuditEntry {
    AuditEntry(
      time: AuditTime.iso8601(time), kind: kind, actor: actor, target: target, account: account,
      flow: flow,
      session: session, outcome: outcome, detail: detail)
  }

  /// The audit entry of a step, accepted or rejected.
  func stepEntry(_ trace: StepTrace, of session: Session, at time: Int) -> AuditEntry {
    if let timer = trace.timer {
      if let rejection = trace.rejection {
        return entry(
          .timer, at: time, outcome: "rejected",
          detail: "\(timer): refused in \(trace.from) (\(rejection.kind)); the timer is spent")
      }
      return entry(
        .timer, at: time, outcome: trace.outcome ?? "accepted",
        detail: trace.transitions.isEmpty
          ? "\(timer): no condition held; \(trace.from) stays (seq \(session.seq))"
          : "\(timer): \(trace.from) → \(trace.to) (seq \(session.seq))")
    }
    if let rejection = trace.rejection {
      return entry(
        .eventRejected, at: time, outcome: "rejected",
        detail: "\(trace.event ?? "(start)") rejected in \(trace.from): \(rejection.kind)")
    }
    return entry(
      .step, at: time, outcome: trace.outcome ?? "accepted",
      detail: "\(trace.event ?? "(start)"): \(trace.from) → \(trace.to) (seq \(session.seq))")
  }
}

/// Formats audit times: ISO 8601, UTC, to the second.
public enum AuditTime {
  /// The last time formatted: steps of the same second share it.
  private static let last = Mutex<(seconds: Int, text: String)>((Int.min, ""))

  public static func iso8601(_ seconds: Int) -> String {
    if let text = last.withLock({ $0.seconds == seconds ? $0.text : nil }) { return text }
    let text = format(seconds)
    last.withLock { $0 = (seconds, text) }
    return text
  }

  private static func format(_ seconds: Int) -> String {
    var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let rest = seconds - days * 86_400
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    days += 719_468
    let era = (days >= 0 ? days : days - 146_096) / 146_097
    let dayOfEra = days - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return
      "\(year)-\(two(month))-\(two(day))T\(two(rest / 3_600)):\(two(rest % 3_600 / 60)):\(two(rest % 60))Z"
  }
}
