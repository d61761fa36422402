public import FlowEngine

/// Everything the in-memory services hold, as one value: copying it is how a step is made
/// atomic (keep the copy on failure), and comparing it is how tests prove nothing changed.
public struct AccountSecurityState: Sendable, Hashable {
  public var accounts: [String: Account] = [:]
  public var users: [String: User] = [:]
  public var codes: [IssuedCode] = []
  /// Consecutive failed verifications per user and authenticator (destination).
  public var failures: [String: Int] = [:]
  /// When each user was last sent a code for each purpose (`user|purpose`), for the resend
  /// cooldown.
  public var lastSend: [String: Int] = [:]
  public var outbox: [OutboundMessage] = []
  public var audit: [AuditEntry] = []
  public var routes: [CallRoute] = []
  public var phoneChanges: [PhoneChange] = []
  public var nextCodeID = 1
  /// Each user's version: up by one with every change to them (see
  /// `AccountSecurityTables.version(of:)`).
  public var userVersions: [String: Int] = [:]

  public init() {}

  public mutating func add(_ account: Account) {
    accounts[account.id] = account
  }

  public mutating func add(_ user: User) {
    users[user.id] = user
  }

  /// The messages delivered to a destination (a phone number or email), oldest first.
  public func inbox(of destination: String) -> [OutboundMessage] {
    outbox.filter { $0.destination == destination }
  }

  /// Where calls to `line` ring.
  public func route(for line: String) -> String? {
    routes.first { $0.line == line }?.userID
  }

  /// `user|digest`: failures count per user and destination, and the key names the
  /// destination only by a keyed digest (no full number outside the profile, SECURITY.md 20).
  static func failureKey(user: String, destination: String, secret: [UInt8]) -> String {
    "\(user)|"
      + String(IssuedCode.hex(IssuedCode.mac(Array(destination.utf8), secret: secret)).prefix(24))
  }

  /// The facts a flow reads about a user, named under `prefix` (`actor.role`, …).
  public func facts(of userID: String, as prefix: String) -> [String: Value]? {
    users[userID]?.facts(as: prefix)
  }
}
