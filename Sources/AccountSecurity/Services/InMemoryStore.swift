public import FlowEngine

/// The in-memory store: the in-memory 2FA services with session rows and flow texts beside
/// them, for tests and dry runs. A step holds the services' lock; its changes (rows included)
/// are kept all or nothing. Deliveries land in the simulated inboxes at once.
public final class InMemoryStore: SynchronousSessionStore, @unchecked Sendable {
  public let services: InMemoryAccountSecurity
  private var rows: [String: StoredSession] = [:]
  private var texts: [String: [UInt8]] = [:]

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
      return result
    }
  }

  /// Puts a session (for example one decoded from a snapshot) in place of the stored one.
  public func put(_ session: Session) {
    services.lock.withLock { rows[session.id] = StoredSession(session, key: sessionKey) }
  }

  /// Every session row (tests).
  public var sessions: [StoredSession] {
    services.lock.withLock { Array(rows.values) }
  }

  /// A transaction's writes to rows are kept aside until it succeeds.
  final class Transaction: StoreTransaction, @unchecked Sendable {
    let store: InMemoryStore
    var rows: [String: StoredSession] = [:]
    var texts: [String: [UInt8]] = [:]

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

    func session(_ id: String) -> StoredSession? { rows[id] ?? store.rows[id] }

    func insertSession(_ row: StoredSession) throws {
      guard session(row.id) == nil else { throw StoreError("session \(row.id) already exists") }
      rows[row.id] = row
    }

    func updateSession(_ row: StoredSession, expectedSeq: Int) -> Bool {
      guard let current = session(row.id), current.seq == expectedSeq else { return false }
      rows[row.id] = row
      return true
    }

    func flowText(_ contentHash: String) -> [UInt8]? {
      texts[contentHash] ?? store.texts[contentHash]
    }

    func keepFlowText(_ bytes: [UInt8], contentHash: String, flowID: String, version: Int) {
      if flowText(contentHash) == nil { texts[contentHash] = bytes }
    }
  }
}
