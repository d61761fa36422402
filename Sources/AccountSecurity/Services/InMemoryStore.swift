public import FlowEngine

/// The in-memory store: the in-memory 2FA services with sessions and flow texts beside them,
/// for tests and dry runs. A step holds the services' lock; its changes (sessions included) are
/// kept all or nothing. Sessions are kept as values (nothing leaves the process, so a step
/// neither encodes nor decodes); a row with signed bytes is made only when a tool asks.
/// Deliveries land in the simulated inboxes at once.
public final class InMemoryStore: SynchronousSessionStore, @unchecked Sendable {
  public let services: InMemoryAccountSecurity
  private var rows: [String: Session] = [:]
  private var texts: [String: [UInt8]] = [:]
  private var replies: [String: (reply: KeptReply, at: Int)] = [:]

  public init(services: InMemoryAccountSecurity) {
    self.services = services
  }

  public var sessionKey: SessionKey { services.sessionKey }

  public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T)
    async throws -> T
  {
    try writeNow(body)
  }

  /// `write`, without waiting: the in-memory store never suspends.
  public func writeNow<T>(_ body: (any StoreTransaction) throws -> T) throws -> T {
    try services.transaction {
      let transaction = Transaction(store: self)
      let result = try services.attempt { try body(transaction) }
      for (id, row) in transaction.rows { rows[id] = row }
      for (hash, text) in transaction.texts { texts[hash] = text }
      for (key, kept) in transaction.replies { replies[key] = kept }
      return result
    }
  }

  /// Puts a session (for example one decoded from a snapshot) in place of the stored one.
  public func put(_ session: Session) {
    services.lock.withLock { rows[session.id] = session }
  }

  /// A transaction's writes to rows are kept aside until it succeeds.
  final class Transaction: StoreTransaction, @unchecked Sendable {
    let store: InMemoryStore
    var rows: [String: Session] = [:]
    var texts: [String: [UInt8]] = [:]
    var replies: [String: (reply: KeptReply, at: Int)] = [:]

    init(store: InMemoryStore) {
      self.store = store
    }

    var services: InMemoryAccountSecurity { store.services }
    var sessionKey: SessionKey { services.sessionKey }

    func perform(_ request: ActionRequest) throws -> [String: Value] {
      try services.perform(request)
    }
    func transaction<T>(_ body: () throws -> T) throws -> T { try body() }
    func attempt<T>(_ body: () throws -> T) throws -> T { try services.attempt(body) }
    func record(_ trace: StepTrace, of session: Session) { services.record(trace, of: session) }
    func facts(of subjects: [String: String]) -> [String: Value]? {
      services.facts(of: subjects)
    }
    func factsVersion(of subjects: [String: String]) -> [Int]? {
      services.factsVersion(of: subjects)
    }

    func sessionValue(_ id: String) -> Session? { rows[id] ?? store.rows[id] }

    func session(_ id: String) -> StoredSession? {
      sessionValue(id).map { StoredSession($0, key: sessionKey) }
    }

    func dueSessions(at now: Int, limit: Int) -> [String] {
      var due: [(at: Int, id: String)] = []
      for (id, stored) in store.rows where rows[id] == nil {
        if let at = stored.dueAt, at <= now { due.append((at, id)) }
      }
      for (id, row) in rows {
        if let at = row.dueAt, at <= now { due.append((at, id)) }
      }
      return due.sorted { ($0.at, $0.id) < ($1.at, $1.id) }.prefix(limit).map(\.id)
    }

    func insertSession(_ session: Session) throws {
      guard sessionValue(session.id) == nil else {
        throw StoreError("session \(session.id) already exists")
      }
      rows[session.id] = session
    }

    func updateSession(_ session: Session, expectedSeq: Int) -> Bool {
      guard let current = sessionValue(session.id), current.seq == expectedSeq else {
        return false
      }
      rows[session.id] = session
      return true
    }

    func flowText(_ contentHash: String) -> [UInt8]? {
      texts[contentHash] ?? store.texts[contentHash]
    }

    func keepFlowText(_ bytes: [UInt8], contentHash: String, flowID: String, version: Int) {
      if flowText(contentHash) == nil { texts[contentHash] = bytes }
    }

    func keptReply(owner: String, key: String, since: Int) -> KeptReply? {
      guard let kept = replies["\(owner)\u{0}\(key)"] ?? store.replies["\(owner)\u{0}\(key)"],
        kept.at >= since
      else { return nil }
      return kept.reply
    }

    func keepReply(_ reply: KeptReply, owner: String, key: String, now: Int, forgetBefore: Int) {
      store.replies = store.replies.filter { $0.value.at >= forgetBefore }
      replies["\(owner)\u{0}\(key)"] = (reply, now)
    }
  }
}
