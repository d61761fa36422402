public import FlowEngine

/// The 2FA domain's tables, as the actions see them inside one step's transaction: the
/// directory (users), codes (hashes only), failure counters, send times, the outbox, the audit
/// log and the number changes. Two implementations: in memory (`InMemoryTables`) and SQLite.
///
/// Reads and writes may throw infrastructure errors (a database failure); the actions refuse
/// with `ActionFailure` and pass anything else on.
public protocol AccountSecurityTables: AnyObject {
  func user(_ id: String) throws -> User?
  /// The display name of an account (what `{accountName}` in a message stands for).
  func accountName(_ id: String) throws -> String?
  /// Saves a user; when anything about them changed, their version goes up.
  func saveUser(_ user: User) throws
  /// The user's version: it goes up with every change to their profile, phone number or 2FA
  /// settings, whoever makes it. nil for an unknown user.
  func version(of user: String) throws -> Int?
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
  /// Audit entries only (an attempt on a verification that is locked already).
  case audit([AuditEntry])
}

extension AccountSecurityTables {
  /// Every subject's facts, or nil when one of them is gone.
  func facts(of subjects: [String: String]) throws -> [String: Value]? {
    var all: [String: Value] = [:]
    all.reserveCapacity(subjects.count * User.factNames.count)
    for (prefix, id) in subjects {
      guard let user = try user(id) else { return nil }
      user.addFacts(as: prefix, to: &all)
    }
    return all
  }

  /// The subjects' versions, in the order of their context fields' names.
  func factsVersion(of subjects: [String: String]) throws -> [Int]? {
    var versions: [Int] = []
    versions.reserveCapacity(subjects.count)
    if subjects.count == 2, let actor = subjects["actor"], let target = subjects["target"] {
      guard let first = try version(of: actor), let second = try version(of: target) else {
        return nil
      }
      return [first, second]
    }
    for (_, id) in subjects.sorted(by: { $0.key < $1.key }) {
      guard let version = try version(of: id) else { return nil }
      versions.append(version)
    }
    return versions
  }

  /// Applies survivors again after a rollback removed them.
  public func reapply(_ survivors: [Survivor]) throws {
    for survivor in survivors {
      switch survivor {
      case .failedAttempt(let key, let entries):
        try setFailures(key, try failures(key) + 1)
        for entry in entries { try audit(entry) }
      case .audit(let entries):
        for entry in entries { try audit(entry) }
      }
    }
  }
}

extension User {
  /// The fields of a user that flows read, after the context field's name (`actor.role`).
  static let factNames = [
    "id", "name", "role", "account", "phone", "email", "twoFactor.enabled", "twoFactor.channel",
    "twoFactor.destination",
  ]

  /// The facts a flow reads about this user, named under `prefix` (`actor.role`, …).
  public func facts(as prefix: String) -> [String: Value] {
    var facts: [String: Value] = [:]
    addFacts(as: prefix, to: &facts)
    return facts
  }

  func addFacts(as prefix: String, to facts: inout [String: Value]) {
    let names = FactNames.names(for: prefix)
    facts[names[0]] = .string(id)
    facts[names[1]] = .string(name)
    facts[names[2]] = .string(role.rawValue)
    facts[names[3]] = .string(account)
    facts[names[4]] = .string(phone.e164)
    facts[names[5]] = .string(email)
    facts[names[6]] = .bool(twoFactor.enabled)
    facts[names[7]] = .string(twoFactor.channel.rawValue)
    facts[names[8]] = .string(twoFactorDestination)
  }
}

/// The dotted fact names of the usual context fields, made once.
enum FactNames {
  static let actor = User.factNames.map { "actor.\($0)" }
  static let target = User.factNames.map { "target.\($0)" }

  static func names(for prefix: String) -> [String] {
    switch prefix {
    case "actor": actor
    case "target": target
    default: User.factNames.map { "\(prefix).\($0)" }
    }
  }
}
