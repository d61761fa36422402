/// A message handed to a delivery channel: the only place a code appears in clear.
public struct OutboundMessage: Sendable, Hashable, Codable {
  public enum Channel: String, Sendable, Hashable, Codable {
    case sms
    case email
  }

  public var channel: Channel
  /// Full destination (phone number or email address): the channel needs it.
  public var destination: String
  /// An email's subject; nil for SMS.
  public var subject: String?
  public var body: String
  public var sentAt: Int
  /// Set on messages that carry a verification code (what `$received` reads in dry runs).
  public var code: String?
  /// The idempotency key: `session:seq:index`, the same however often it is sent.
  public var key: String = ""

  public init(
    channel: Channel, destination: String, body: String, sentAt: Int, code: String?,
    key: String = ""
  ) {
    self.channel = channel
    self.destination = destination
    self.body = body
    self.sentAt = sentAt
    self.code = code
    self.key = key
  }
}

/// One line of the append-only audit log. Phone numbers appear masked; codes never appear.
public struct AuditEntry: Sendable, Hashable, Codable {
  public enum Kind: String, Sendable, Hashable, Codable {
    case step
    case eventRejected = "event-rejected"
    /// A timer fired (or was spent: `detail` says which).
    case timer
    case codeSent = "code-sent"
    case verificationSucceeded = "verification-succeeded"
    case verificationFailed = "verification-failed"
    case verificationLocked = "verification-locked"
    case twoFactorDisabled = "2fa-disabled"
    case twoFactorEnabled = "2fa-enabled"
    case phoneChanged = "phone-changed"
    case codesInvalidated = "codes-invalidated"
    case memberNotified = "member-notified"
    case accessDenied = "access-denied"
    case supportRequested = "support-requested"
    case flowCancelled = "flow-cancelled"
    case sessionExpired = "session-expired"
    case deliveryFailed = "delivery-failed"
  }

  /// UTC, ISO 8601.
  public var time: String
  public var kind: Kind
  public var actor: String
  public var target: String
  public var account: String
  public var flow: String
  public var session: String
  public var outcome: String
  public var detail: String

  public init(
    time: String, kind: Kind, actor: String, target: String, account: String, flow: String,
    session: String, outcome: String, detail: String
  ) {
    self.time = time
    self.kind = kind
    self.actor = actor
    self.target = target
    self.account = account
    self.flow = flow
    self.session = session
    self.outcome = outcome
    self.detail = detail
  }
}

/// Routes inbound calls to users (never to the 2FA phone on their profile).
public struct CallRoute: Sendable, Hashable, Codable {
  /// The line or extension that rings, e.g. `+15550199000` or `ext-12`.
  public var line: String
  public var userID: String

  public init(line: String, userID: String) {
    self.line = line
    self.userID = userID
  }
}

/// A number change, kept so the member can be told what changed.
public struct PhoneChange: Sendable, Hashable, Codable {
  public var user: String
  public var previous: PhoneNumber
  public var current: PhoneNumber
  public var session: String
  public var at: Int

  public init(user: String, previous: PhoneNumber, current: PhoneNumber, session: String, at: Int) {
    self.user = user
    self.previous = previous
    self.current = current
    self.session = session
    self.at = at
  }
}
