internal import AccountSecurity
internal import FlowEngine
internal import Foundation
internal import GRDB

/// One step's transaction on a SQLite store: the session rows, the flow texts and the 2FA
/// domain, all on the same connection inside the same `BEGIN IMMEDIATE` transaction.
final class SQLiteTransaction: StoreTransaction, @unchecked Sendable {
  let db: Database
  let tables: SQLiteTables
  let domain: AccountSecurityDomain
  let sessionKey: SessionKey
  let clock: any FlowClock

  init(
    db: Database, domain: AccountSecurityDomain, sessionKey: SessionKey, sealer: OutboxSealer,
    clock: any FlowClock
  ) {
    self.db = db
    self.domain = domain
    self.sessionKey = sessionKey
    self.clock = clock
    self.tables = SQLiteTables(db: db, sealer: sealer)
  }

  // MARK: - FlowServices

  func perform(_ request: ActionRequest) throws -> [String: Value] {
    try domain.perform(request, on: tables)
  }

  func transaction<T>(_ body: () throws -> T) throws -> T { try body() }

  /// A savepoint: on failure everything since is rolled back, then the survivors are written
  /// again.
  func attempt<T>(_ body: () throws -> T) throws -> T {
    let mark = tables.survivors.count
    var result: Result<T, any Error> = .failure(StoreError("no result"))
    try db.inSavepoint {
      do {
        result = .success(try body())
        return .commit
      } catch {
        result = .failure(error)
        return .rollback
      }
    }
    if case .failure(let error) = result {
      tables.forgetUsers()
      // A refusal rolled back only the savepoint: the survivors are written again here. An
      // infrastructure error (or SQLite rolling the whole transaction back) fails the whole
      // write, and the store writes them again in a transaction of their own.
      if db.isInsideTransaction, !(error is DatabaseError) {
        try tables.reapply(Array(tables.survivors[mark...]))
      }
    }
    return try result.get()
  }

  func record(_ trace: StepTrace, of session: Session) throws {
    try tables.audit(domain.auditEntry(for: trace, of: session, at: clock.now()))
  }

  func facts(of subjects: [String: String]) throws -> [String: Value]? {
    try domain.facts(of: subjects, in: tables)
  }

  func factsVersion(of subjects: [String: String]) throws -> [Int]? {
    try domain.factsVersion(of: subjects, in: tables)
  }

  // MARK: - Rows

  func session(_ id: String) throws -> StoredSession? {
    try Row.fetchOne(
      db.cachedStatement(
        sql: """
          SELECT s.*, f.flow_id, f.version, f.content_hash FROM sessions s
          JOIN flows f ON f.id = s.flow WHERE s.id = ?
          """), arguments: [id]
    ).map {
      row in
      let body: Data = row["body"]
      return StoredSession(
        id: row["id"], flowID: row["flow_id"], flowVersion: row["version"],
        contentHash: row["content_hash"], state: row["state"], outcome: row["outcome"],
        seq: row["seq"], actor: row["actor"], startedAt: row["started_at"],
        updatedAt: row["updated_at"], expiresAt: row["expires_at"], dueAt: row["due_at"],
        body: [UInt8](body))
    }
  }

  func dueSessions(at now: Int, limit: Int) throws -> [String] {
    try String.fetchAll(
      db.cachedStatement(
        sql: "SELECT id FROM sessions WHERE due_at <= ? ORDER BY due_at, id LIMIT ?"),
      arguments: [now, limit])
  }

  func sessionValue(_ id: String) -> Session? { nil }

  func insertSession(_ session: Session) throws {
    let row = StoredSession(session, key: sessionKey)
    try db.cachedStatement(
      sql: """
        INSERT INTO sessions (id, flow, state, outcome, seq, actor, started_at, updated_at,
          expires_at, due_at, body)
        VALUES (?, (SELECT id FROM flows WHERE content_hash = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    ).execute(arguments: [
      row.id, row.contentHash, row.state, row.outcome, row.seq, row.actor, row.startedAt,
      row.updatedAt, row.expiresAt, row.dueAt, Data(row.body),
    ])
  }

  func updateSession(_ session: Session, expectedSeq: Int) throws -> Bool {
    let row = StoredSession(session, key: sessionKey)
    try db.cachedStatement(
      sql: """
        UPDATE sessions SET state = ?, outcome = ?, seq = ?, updated_at = ?, expires_at = ?,
          due_at = ?, body = ?
        WHERE id = ? AND seq = ?
        """
    ).execute(arguments: [
      row.state, row.outcome, row.seq, row.updatedAt, row.expiresAt, row.dueAt, Data(row.body),
      row.id, expectedSeq,
    ])
    return db.changesCount == 1
  }

  func flowText(_ contentHash: String) throws -> [UInt8]? {
    try Data.fetchOne(
      db.cachedStatement(sql: "SELECT text FROM flows WHERE content_hash = ?"),
      arguments: [contentHash]
    ).map { [UInt8]($0) }
  }

  func keepFlowText(_ bytes: [UInt8], contentHash: String, flowID: String, version: Int) throws {
    try db.cachedStatement(
      sql: """
        INSERT INTO flows (content_hash, flow_id, version, text, kept_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(content_hash) DO NOTHING
        """
    ).execute(arguments: [contentHash, flowID, version, Data(bytes), clock.now()])
  }

  func keptReply(owner: String, key: String, since: Int) throws -> KeptReply? {
    try Row.fetchOne(
      db.cachedStatement(
        sql: """
          SELECT digest, status, body FROM idempotency
          WHERE owner = ? AND key = ? AND created_at >= ?
          """), arguments: [owner, key, since]
    ).map { row in
      let body: Data = row["body"]
      return KeptReply(digest: row["digest"], status: row["status"], body: [UInt8](body))
    }
  }

  func keepReply(_ reply: KeptReply, owner: String, key: String, now: Int, forgetBefore: Int)
    throws
  {
    try db.cachedStatement(sql: "DELETE FROM idempotency WHERE created_at < ?").execute(
      arguments: [forgetBefore])
    try db.cachedStatement(
      sql: """
        INSERT INTO idempotency (owner, key, digest, status, body, created_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(owner, key) DO UPDATE SET digest = excluded.digest,
          status = excluded.status, body = excluded.body, created_at = excluded.created_at
        """
    ).execute(arguments: [owner, key, reply.digest, reply.status, Data(reply.body), now])
  }
}
