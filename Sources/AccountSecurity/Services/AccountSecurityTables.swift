public import FlowEngine

/// The 2FA domain's tables, as the actions see them inside one step's transaction: the
/// directory (users), codes (hashes only), failure counters, send times, the outbox, the audit
/// log and the number changes. Two implementations: in memory (`InMemoryTables`) and SQLite.
///
/// Reads and writes may throw infrastructure errors (a database failure); the actions refuse
/// with `ActionFailure` and pass anything else on.
public protocol AccountSecurityTables: AnyObject {
  func user(_ id: String) throws -> User?
  func saveUser(_ user: User) throws
  /// The user's codes that are neither used nor invalidated, oldest first.
  func activeCodes(of user: String) throws -> [IssuedCode]
  /// Stores a new code (its `id` is ignored) and returns the id it was given.
  func insertCode(_ code: IssuedCode) throws -> Int
  /// Writes back a code's `used` and `invalidated` flags.
  func updateCode(_ code: IssuedCode) throws
  /// True when a code sent to `destination` was verified in `session`.
  func hasUsedCode(user: String, destination: String, session: String) throws -> Bool
  /// Consecutive failed verifications for a `user|destination` key.
  func failures(_ key: String) throws -> Int
  func setFailures(_ key: String, _ count: Int) throws
  /// When the user was last sent a code for a purpose (`user|purpose`).
  func lastSend(_ key: String) throws -> Int?
  func setLastSend(_ key: String, _ time: Int) throws
  /// Queues a message for delivery after the step commits. Its `key` is set (session, seq of
  /// the step, index in the step), stable across retries, for providers to drop duplicates.
  func deliver(_ message: OutboundMessage) throws
  func audit(_ entry: AuditEntry) throws
  func lastPhoneChange(user: String, session: String) throws -> PhoneChange?
  func recordPhoneChange(_ change: PhoneChange) throws
  /// Marks effects that must be kept even when the step that made them rolls back
  /// (SECURITY.md 26); the store applies them again after the rollback.
  func survive(_ survivor: Survivor)
}

/// An effect that outlives the step that made it: a failed verification is counted and
/// audited whatever else happens in its step.
public enum Survivor: Sendable, Hashable {
  /// One more failure on the key, and the audit entries that tell of it.
  case failedAttempt(key: String, audit: [AuditEntry])
}

extension AccountSecurityTables {
  /// The facts a flow reads about a user, named under `prefix` (`actor.role`, …).
  func facts(of userID: String, as prefix: String) throws -> [String: Value]? {
    try user(userID).map { $0.facts(as: prefix) }
  }

  /// Every subject's facts, or nil when one of them is gone.
  func facts(of subjects: [String: String]) throws -> [String: Value]? {
    var all: [String: Value] = [:]
    for (prefix, id) in subjects {
      guard let facts = try facts(of: id, as: prefix) else { return nil }
      all.merge(facts) { first, _ in first }
    }
    return all
  }

  /// Applies survivors again after a rollback removed them.
  public func reapply(_ survivors: [Survivor]) throws {
    for survivor in survivors {
      switch survivor {
      case .failedAttempt(let key, let entries):
        try setFailures(key, try failures(key) + 1)
        for entry in entries { try audit(entry) }
      }
    }
  }
}

extension User {
  /// The facts a flow reads about this user, named under `prefix` (`actor.role`, …).
  public func facts(as prefix: String) -> [String: Value] {
    [
      "\(prefix).id": .string(id),
      "\(prefix).name": .string(name),
      "\(prefix).role": .string(role.rawValue),
      "\(prefix).account": .string(account),
      "\(prefix).phone": .string(phone.e164),
      "\(prefix).email": .string(email),
      "\(prefix).twoFactor.enabled": .bool(twoFactor.enabled),
      "\(prefix).twoFactor.channel": .string(twoFactor.channel.rawValue),
    ]
  }
}
