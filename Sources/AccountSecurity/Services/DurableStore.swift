public import FlowEngine

/// A store whose sessions outlive the process (SQLite, PostgreSQL), with what tools and the
/// HTTP service need beside steps: the directory, the audit log, the outbox and its dispatcher.
public protocol DurableStore: SessionStore {
  /// Where it is: a file's path, or a database URL without its password.
  var location: String { get }
  var kind: StoreKind { get }
  var clock: any FlowClock { get }
  /// A user as the directory holds them now.
  func user(_ id: String) async throws -> User?
  /// The users of the directory, by id.
  func users() async throws -> [User]
  /// The audit log, oldest first, of one session or of all, without the first `skipping`.
  func audit(session: String?, skipping: Int) async throws -> [AuditEntry]
  /// What the simulated inbox of a dry-run store holds for a destination, oldest first.
  func inbox(of destination: String) async throws -> [OutboundMessage]
  /// Deliveries committed but not yet handed to a provider (nor given up).
  func pendingDeliveries() async throws -> Int
  /// The seconds since the oldest pending delivery was committed (0 when none is pending).
  func outboxLag() async throws -> Int
  /// Hands what is due to `provider` (the simulated inbox on a dry-run store when nil), at
  /// least once, retried with `retry`'s backoff and given up after its last attempt, all
  /// audited. Returns how many were delivered.
  @discardableResult
  func dispatch(to provider: (any DeliveryProvider)?, retry: DeliveryRetry) async throws -> Int
  /// Moves a dry-run store's clock forward (refused on a live store, and backwards).
  func moveClock(to time: Int) async throws
  /// What a committed step queued for delivery (destinations masked), for its trace.
  func queued(by step: SessionEngine.Step) async throws -> [OutboundMessage]
  /// A dry-run store's inbox filled at once after a request: dispatches when this process
  /// queued something since it last did (what other processes queued is the background
  /// dispatcher's). Returns how many were delivered.
  @discardableResult
  func dispatchQueuedHere() async throws -> Int
}

extension DurableStore {
  public func audit(session: String? = nil) async throws -> [AuditEntry] {
    try await audit(session: session, skipping: 0)
  }

  @discardableResult
  public func dispatch() async throws -> Int {
    try await dispatch(to: nil, retry: DeliveryRetry())
  }

  /// Dispatches every time (a store whose dispatch costs little when nothing is queued).
  @discardableResult
  public func dispatchQueuedHere() async throws -> Int {
    try await dispatch()
  }
}

extension DurableStore {
  /// The dry-run clock to move to `time`, or why it cannot move: a live store runs on real
  /// time, and a store's time never goes back.
  public func movableClock(to time: Int) throws -> FloorClock {
    guard kind == .dryRun, let clock = clock as? FloorClock else {
      throw StoreError("only a dry-run store's clock can be moved; a live store runs on real time")
    }
    let now = clock.now()
    guard time >= now else {
      throw StoreError(
        "the store's clock is at \(AuditTime.iso8601(now)); it cannot go back to \(AuditTime.iso8601(time))"
      )
    }
    return clock
  }
}

extension OutboundMessage {
  /// What a simulated inbox records of a delivery attempt: a digest of its channel,
  /// destination and body (two contents under one key show; the content itself does not).
  public var contentDigest: String {
    SessionKey(bytes: Array(repeating: 0, count: 32))!.tag(
      Array("\(channel.rawValue)|\(destination)|\(body)".utf8))
  }
}

/// A dry-run store delivers into simulated inboxes it keeps; a live store hands deliveries to
/// real providers.
public enum StoreKind: String, Sendable, Hashable {
  case dryRun = "dry-run"
  case live
}

/// How often a delivery is tried, and how long to wait between tries: `backoff` after the
/// first failure, doubling each time up to `maxBackoff`.
public struct DeliveryRetry: Sendable, Hashable {
  public var attempts: Int
  public var backoff: Int
  public var maxBackoff: Int

  public init(attempts: Int = 8, backoff: Int = 2, maxBackoff: Int = 600) {
    self.attempts = max(1, attempts)
    self.backoff = max(1, backoff)
    self.maxBackoff = max(self.backoff, maxBackoff)
  }

  /// The wait after the `failures`th failed attempt, in seconds.
  public func wait(after failures: Int) -> Int {
    var wait = backoff
    for _ in 1..<max(1, failures) where wait < maxBackoff { wait *= 2 }
    return min(wait, maxBackoff)
  }

  /// The audit entry of a failed attempt, and whether it was the last.
  public func failure(
    of message: OutboundMessage, key: String, attempt: Int, error: any Error, now: Int
  ) -> (entry: AuditEntry, givingUp: Bool, next: Int) {
    let givingUp = attempt >= attempts
    let next = now + wait(after: attempt)
    let what = "\(message.channel.rawValue) to \(Destination.mask(message.destination))"
    let detail =
      givingUp
      ? "\(what) failed (attempt \(attempt) of \(attempts): \(error)); given up"
      : "\(what) failed (attempt \(attempt) of \(attempts): \(error)); next try at \(AuditTime.iso8601(next))"
    let session = String(key.split(separator: ":").first ?? "")
    return (
      AuditEntry(
        time: AuditTime.iso8601(now), kind: .deliveryFailed, actor: "", target: "", account: "",
        flow: "", session: session, outcome: givingUp ? "given-up" : "failed", detail: detail),
      givingUp, next
    )
  }
}

/// A row the store holds that this version cannot read: an infrastructure error.
public struct StoreIntegrityError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
