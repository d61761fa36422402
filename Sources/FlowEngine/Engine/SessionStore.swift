/// Where sessions live between steps, with the domain's tables beside them: in memory, SQLite
/// or PostgreSQL. Every step is one `write` transaction: the session row, the domain's
/// changes, the audit rows and the outbox rows commit together, or none of them does.
public protocol SessionStore: Sendable {
  /// Runs `body` in one transaction. If it throws, nothing it wrote is kept, and the error is
  /// rethrown. Infrastructure failures (disk full, a lock held past the timeout) are thrown as
  /// `StoreError`.
  func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T)
    async throws -> T
  /// `write`, told what `body` reads first, in the order it reads them: a store may read
  /// those before `body` runs (PostgreSQL then runs a body that waits for nothing else
  /// without a thread of its own). `body` is the same; what it reads is the same.
  func write<T: Sendable>(
    reading first: [StoreRead], _ body: @escaping @Sendable (any StoreTransaction) throws -> T
  ) async throws -> T
  /// Runs `body` to read rows only: it writes nothing and locks nothing, so a store may run
  /// each statement on its own, outside a transaction.
  func read<T: Sendable>(transaction body: @escaping @Sendable (any StoreTransaction) throws -> T)
    async throws -> T
  /// The key the store signs its sessions with.
  var sessionKey: SessionKey { get }
}

/// A read a step's transaction begins with (`SessionStore.write(reading:_:)`).
public enum StoreRead: Sendable, Hashable {
  /// The session row to step (locked), as `StoreTransaction.session(_:)` reads it.
  case session(String)
  /// The answer kept for an idempotency key (its lock taken), as `keptReply` reads it.
  case keptReply(owner: String, key: String)
  /// Users whose facts the step reads (`facts(of:)`), locked against change.
  case users([String])
}

extension SessionStore {
  /// Stores that read nothing ahead run `body` as `write` does.
  public func write<T: Sendable>(
    reading first: [StoreRead], _ body: @escaping @Sendable (any StoreTransaction) throws -> T
  ) async throws -> T {
    try await write(body)
  }

  /// A read in a transaction, as a write (stores whose transactions are cheap).
  public func read<T: Sendable>(
    transaction body: @escaping @Sendable (any StoreTransaction) throws -> T
  ) async throws -> T {
    try await write(body)
  }
}

/// A store whose transactions never suspend (in memory): dry runs and harnesses drive the
/// engine without `await`.
public protocol SynchronousSessionStore: SessionStore {
  func writeNow<T>(_ body: (any StoreTransaction) throws -> T) throws -> T
}

/// One transaction of a store: the domain's services (all inside it) and the store's rows.
public protocol StoreTransaction: FlowServices {
  /// The session row with this id, or nil.
  func session(_ id: String) throws -> StoredSession?
  /// The session itself, when the store holds values rather than bytes (in memory: a step
  /// then decodes nothing); nil from stores that keep signed bytes.
  func sessionValue(_ id: String) throws -> Session?
  /// The ids of sessions with a timer due at or before `now` (`Session.dueAt`), soonest
  /// first, at most `limit`.
  func dueSessions(at now: Int, limit: Int) throws -> [String]
  /// Writes a new session.
  func insertSession(_ session: Session) throws
  /// Replaces a session, only if its stored `seq` is still `expectedSeq`; false when it is not.
  func updateSession(_ session: Session, expectedSeq: Int) throws -> Bool
  /// A flow text the store keeps, by its content hash.
  func flowText(_ contentHash: String) throws -> [UInt8]?
  /// Keeps a flow text by its content hash (nothing happens when it is already kept).
  func keepFlowText(_ bytes: [UInt8], contentHash: String, flowID: String, version: Int) throws
  /// The answer kept for `owner`'s idempotency key, if it was kept at or after `since`.
  func keptReply(owner: String, key: String, since: Int) throws -> KeptReply?
  /// Keeps the answer to a request made with an idempotency key, at `now`; answers kept
  /// before `forgetBefore` may be dropped.
  func keepReply(_ reply: KeptReply, owner: String, key: String, now: Int, forgetBefore: Int)
    throws
}

/// The answer to a request made with an idempotency key, kept with the step it took so that
/// the same request again gets the same bytes and takes no new step (SECURITY.md 30).
public struct KeptReply: Sendable, Hashable {
  /// What identifies the request (a hash of its target and body): the same key with another
  /// digest is another request, refused.
  public var digest: String
  /// The HTTP status of the answer.
  public var status: Int
  public var body: [UInt8]

  public init(digest: String, status: Int, body: [UInt8]) {
    self.digest = digest
    self.status = status
    self.body = body
  }
}

/// A session as a store keeps it: the signed encoding, and the columns tools query.
public struct StoredSession: Sendable, Hashable {
  public var id: String
  public var flowID: String
  public var flowVersion: Int
  public var contentHash: String
  public var state: String
  public var outcome: String?
  public var seq: Int
  /// The id of the session's actor (only they may see it, SECURITY.md 24).
  public var actor: String
  public var startedAt: Int
  public var updatedAt: Int
  public var expiresAt: Int
  /// When the session's next timer falls due, nil when none is pending.
  public var dueAt: Int? = nil
  /// `Session.packed(key:)`: compact, signed with the store's key, bound to the id and text.
  public var body: [UInt8]

  public var isFinal: Bool { outcome != nil }

  public init(
    id: String, flowID: String, flowVersion: Int, contentHash: String, state: String,
    outcome: String?, seq: Int, actor: String, startedAt: Int, updatedAt: Int, expiresAt: Int,
    dueAt: Int? = nil, body: [UInt8]
  ) {
    self.dueAt = dueAt
    self.id = id
    self.flowID = flowID
    self.flowVersion = flowVersion
    self.contentHash = contentHash
    self.state = state
    self.outcome = outcome
    self.seq = seq
    self.actor = actor
    self.startedAt = startedAt
    self.updatedAt = updatedAt
    self.expiresAt = expiresAt
    self.body = body
  }

  /// The row of `session`, signed with `key`.
  public init(_ session: Session, key: SessionKey) {
    self.init(
      id: session.id, flowID: session.flowID, flowVersion: session.flowVersion,
      contentHash: session.contentHash, state: session.state, outcome: session.outcome,
      seq: session.seq, actor: session.subjects["actor"] ?? "", startedAt: session.startedAt,
      updatedAt: session.updatedAt, expiresAt: session.expiresAt,
      dueAt: session.dueAt, body: session.packed(key: key))
  }
}

/// A failure of the store itself, never a flow's rejection.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
  public var message: String

  public init(_ message: String) {
    self.message = message
  }

  public var description: String { message }
}
