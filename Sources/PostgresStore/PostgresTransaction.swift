internal import AccountSecurity
internal import FlowEngine
internal import Foundation
internal import PostgresNIO

/// One step's transaction on PostgreSQL: the session rows, the flow texts and the 2FA domain,
/// on one connection inside one transaction. The session row is locked (`FOR UPDATE`) when a
/// step reads it, so two processes never step one session at once; the users a step reads
/// facts of are locked too, in id order, so their counters and settings change one step at a
/// time; due timers are claimed with `SKIP LOCKED`, so each fires in one process. (A step
/// tried alone reads its session unlocked, outside a transaction: its one statement checks
/// the session's seq and its subjects' versions instead, `Statements.SteppedAlone`.)
final class PostgresTransaction: StoreTransaction, @unchecked Sendable {
  let link: PostgresLink
  let tables: PostgresTables
  let domain: AccountSecurityDomain
  let sessionKey: SessionKey
  let clock: any FlowClock
  /// Whether session rows are locked as they are read (a step); a read locks nothing and
  /// may not write.
  let locking: Bool
  private var lockedUsers: Set<String> = []
  /// The session rows this transaction locked (their updates need not wait for an answer).
  private var lockedSessions: Set<String> = []
  private var savepoints = 0
  /// The savepoint of the attempt under way, once it has written something (a savepoint is
  /// opened before the attempt's first write: most attempts write nothing), and the rows
  /// locked before it.
  private var openAttempt: (name: String?, locked: Locked)?

  private typealias Locked = (users: Set<String>, sessions: Set<String>)

  init(
    link: PostgresLink, domain: AccountSecurityDomain, sessionKey: SessionKey,
    sealer: OutboxSealer, clock: any FlowClock, locking: Bool = true
  ) {
    self.link = link
    self.domain = domain
    self.sessionKey = sessionKey
    self.clock = clock
    self.locking = locking
    self.tables = PostgresTables(link: link, sealer: sealer)
    link.beforeWrite = { [weak self] in
      guard let self else { return }
      guard self.locking else { throw PostgresStoreError("a read may not change rows") }
      try self.openSavepoint()
    }
  }

  // MARK: - FlowServices

  func perform(_ request: ActionRequest) throws -> [String: Value] {
    try domain.perform(request, on: tables)
  }

  func transaction<T>(_ body: () throws -> T) throws -> T { try body() }

  /// A savepoint, opened at the attempt's first write: on failure everything since is rolled
  /// back (the audit entries it recorded are dropped), then the survivors are written again.
  func attempt<T>(_ body: () throws -> T) throws -> T {
    let mark = tables.survivors.count
    let auditMark = tables.pendingAudit.count
    let outer = openAttempt
    openAttempt = (nil, (lockedUsers, lockedSessions))
    defer { openAttempt = outer }
    var result: Result<T, any Error>
    do {
      result = .success(try body())
      if let name = openAttempt?.name { try link.send("RELEASE SAVEPOINT \(name)") }
    } catch {
      result = .failure(error)
      tables.dropAudit(from: auditMark)
      if let (name, locked) = openAttempt, let name {
        // A refusal (or a statement the database refused) rolls back to the savepoint (the
        // row locks taken since go too), and the survivors are written again here; a lost
        // connection fails the whole write, and the store writes them again in a transaction
        // of its own.
        tables.forgetUsers()
        (lockedUsers, lockedSessions) = locked
        openAttempt = outer
        if (try? link.execute("ROLLBACK TO SAVEPOINT \(name)")) != nil {
          try tables.reapply(Array(tables.survivors[mark...]))
        }
      } else {
        // Nothing was written: only the dropped entries and the survivors are to write.
        openAttempt = outer
        try tables.reapply(Array(tables.survivors[mark...]))
      }
    }
    return try result.get()
  }

  private func openSavepoint() throws {
    guard let attempt = openAttempt, attempt.name == nil else { return }
    savepoints += 1
    let name = "attempt_\(savepoints)"
    openAttempt = (name, attempt.locked)
    try link.send("SAVEPOINT \(name)")
  }

  func record(_ trace: StepTrace, of session: Session) throws {
    try tables.audit(domain.auditEntry(for: trace, of: session, at: clock.now()))
  }

  func facts(of subjects: [String: String]) throws -> [String: Value]? {
    try lock(subjects)
    return try domain.facts(of: subjects, in: tables)
  }

  func factsVersion(of subjects: [String: String]) throws -> [Int]? {
    try lock(subjects)
    return try domain.factsVersion(of: subjects, in: tables)
  }

  /// Locks the users a step reads against change and reads them, in one statement (a read
  /// only reads them).
  private func lock(_ subjects: [String: String]) throws {
    let wanted = Set(subjects.values).subtracting(lockedUsers).sorted()
    guard !wanted.isEmpty, locking else { return }
    try tables.lockUsers(wanted)
    lockedUsers.formUnion(wanted)
  }

  /// Sends what waits (audit entries) ahead of the commit.
  func finish() throws {
    try tables.flushAudit()
  }

  // MARK: - Rows

  // MARK: - Read ahead

  /// What the store read for a step before its body ran (`read(_:)`): the rows, each used
  /// once by the transaction that is given them.
  struct ReadAhead {
    /// Whether the rows were locked as they were read (in a transaction), or read on their
    /// own, unlocked (for a step written by one statement that checks them: `SteppedAlone`).
    var locked = true
    var sessions: [String: [PostgresRandomAccessRow]] = [:]
    var reply: (owner: String, key: String, row: PostgresRandomAccessRow?)?
    var users: (ids: [String], rows: [PostgresRandomAccessRow]) = ([], [])
  }

  private var sessionsRead: [String: [PostgresRandomAccessRow]] = [:]
  /// Whether `sessionsRead` were read unlocked.
  private var sessionsReadUnlocked = false
  /// The sessions read unlocked, with the versions of their subjects as read (in id order).
  private var readUnlocked: [String: [Int]] = [:]
  private var replyRead: (owner: String, key: String, row: PostgresRandomAccessRow?)?

  /// Reads (and locks) what a step reads first, in its order, awaited on the connection's
  /// event loop (`PostgresLink.rowsNow`).
  static func read(_ reads: [StoreRead], on link: PostgresLink, locked: Bool = true)
    async throws -> ReadAhead
  {
    var ahead = ReadAhead(locked: locked)
    for read in reads {
      switch read {
      case .session(let id) where locked:
        ahead.sessions[id] = try await link.rowsNow(
          Statements.SessionWithSubjects.self, [.text(id)])
      case .session(let id):
        ahead.sessions[id] = try await link.rowsNow(
          Statements.SessionWithSubjectsUnlocked.self, [.text(id)])
      case .keptReply(let owner, let key):
        _ = try await link.rowsNow(Statements.LockKey.self, [.text("\(owner)\n\(key)")])
        let row = try await link.rowsNow(
          Statements.KeptReply.self, [.text(owner), .text(key), .int(Int.min)]
        ).first
        ahead.reply = (owner, key, row)
      case .users(let ids):
        let wanted = Set(ids).subtracting(ahead.users.ids).sorted()
        guard !wanted.isEmpty else { continue }
        ahead.users.rows += try await link.rowsNow(Statements.LockUsers.self, [.texts(wanted)])
        ahead.users.ids += wanted
      }
    }
    return ahead
  }

  /// Takes what was read ahead: `session`, `keptReply` and `facts(of:)` find it at hand.
  func use(_ ahead: ReadAhead) throws {
    sessionsRead = ahead.sessions
    sessionsReadUnlocked = !ahead.locked
    replyRead = ahead.reply
    for row in ahead.users.rows { try tables.remember(row) }
    lockedUsers.formUnion(ahead.users.ids)
  }

  /// A step's session row locks and reads its subjects' users in the same statement (the
  /// facts the step reads next are then at hand); a session without them (or whose users are
  /// gone) is read on its own.
  func session(_ id: String) throws -> StoredSession? {
    if locking {
      let ahead = sessionsRead.removeValue(forKey: id)
      let rows = try ahead ?? link.rows(Statements.SessionWithSubjects.self, [.text(id)])
      if let row = rows.first {
        if ahead != nil, sessionsReadUnlocked {
          readUnlocked[id] = try rows.map { try $0.int("user_version") }
        } else {
          lockedSessions.insert(id)
        }
        for row in rows {
          let user = try tables.remember(row, id: "user_id", version: "user_version")
          lockedUsers.insert(user.user.id)
        }
        return try Self.storedSession(row)
      }
    }
    guard
      let row = try
        (locking
        ? link.rows(Statements.SessionForUpdate.self, [.text(id)])
        : link.rows(Statements.SessionToRead.self, [.text(id)])).first
    else { return nil }
    if locking { lockedSessions.insert(id) }
    return try Self.storedSession(row)
  }

  static func storedSession(_ row: PostgresRandomAccessRow) throws -> StoredSession {
    StoredSession(
      id: try row.text("id"), flowID: try row.text("flow_id"), flowVersion: try row.int("version"),
      contentHash: try row.text("content_hash"), state: try row.text("state"),
      outcome: try row.optionalText("outcome"), seq: try row.int("seq"),
      actor: try row.text("actor"), startedAt: try row.int("started_at"),
      updatedAt: try row.int("updated_at"), expiresAt: try row.int("expires_at"),
      dueAt: try row.optionalInt("due_at"), body: try row.bytes("body"))
  }

  /// Claims due sessions: a row another process is stepping or ticking is skipped.
  func dueSessions(at now: Int, limit: Int) throws -> [String] {
    let ids = try link.rows(
      """
      SELECT id FROM sessions WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2
      FOR UPDATE SKIP LOCKED
      """, [.int(now), .int(limit)]
    ).map { try $0.text("id") }
    lockedSessions.formUnion(ids)
    return ids
  }

  func sessionValue(_ id: String) -> Session? { nil }

  /// Sent without waiting: a failure (a session id taken) fails the commit.
  func insertSession(_ session: Session) throws {
    let row = StoredSession(session, key: sessionKey)
    try link.send(
      Statements.InsertSession.self,
      [
        .text(row.id), .text(row.contentHash), .text(row.state), .optional(row.outcome),
        .int(row.seq), .text(row.actor), .int(row.startedAt), .int(row.updatedAt),
        .int(row.expiresAt), .optional(row.dueAt), .bytes(row.body),
        .texts(Set(session.subjects.values).sorted()),
      ] + tables.takeAudit())
  }

  /// A session row this transaction locked is updated without waiting (no other step can
  /// have moved it on; if one did, the server fails the transaction and it runs again).
  func updateSession(_ session: Session, expectedSeq: Int) throws -> Bool {
    let row = StoredSession(session, key: sessionKey)
    let values: [SQLValue] = [
      .text(row.state), .optional(row.outcome), .int(row.seq), .int(row.updatedAt),
      .int(row.expiresAt), .optional(row.dueAt), .bytes(row.body), .text(row.id),
      .int(expectedSeq),
    ]
    let entries = tables.takeAuditEntries()
    if let versions = readUnlocked[row.id], link.holding {
      // Read unlocked: one statement on its own writes it, if nothing it read has changed.
      let movedOn = PostgresStoreError(
        "session \(row.id) or its subjects changed under its step", retryable: true)
      let changed: ([PostgresRandomAccessRow]) throws -> Bool = {
        try $0.first?.int("changed") == 1
      }
      if entries.count == 1 {
        try link.send(
          Statements.SteppedAloneWithEntry.self,
          values + [.ints(versions)] + Statements.auditValues(entries[0]), alone: true,
          expecting: changed, else: movedOn)
      } else {
        try link.send(
          Statements.SteppedAlone.self,
          values + [.ints(versions)] + Statements.auditArrays(entries), alone: true,
          expecting: changed, else: movedOn)
      }
      return true
    }
    guard lockedSessions.contains(row.id) else {
      return try link.execute(
        Statements.UpdateSession.self, values + Statements.auditArrays(entries)) == 1
    }
    // On the event loop what is sent is awaited before the commit: the row count is checked
    // there (a step's one audit entry goes as values).
    let movedOn = PostgresStoreError(
      "session \(row.id) moved on under its step", retryable: true)
    if link.holding, entries.count == 1 {
      try link.send(
        Statements.UpdateSessionWithEntry.self, values + Statements.auditValues(entries[0]),
        expecting: { $0.count == 1 }, else: movedOn)
    } else if link.holding {
      try link.send(
        Statements.UpdateSession.self, values + Statements.auditArrays(entries),
        expecting: { $0.count == 1 }, else: movedOn)
    } else {
      try link.send(Statements.UpdateLockedSession.self, values + Statements.auditArrays(entries))
    }
    return true
  }

  func flowText(_ contentHash: String) throws -> [UInt8]? {
    try link.rows("SELECT text FROM flows WHERE content_hash = $1", [.text(contentHash)]).first?
      .bytes("text")
  }

  /// Sent without waiting (the session inserted after it finds the row).
  func keepFlowText(_ bytes: [UInt8], contentHash: String, flowID: String, version: Int) throws {
    try link.send(
      Statements.KeepFlowText.self,
      [.text(contentHash), .text(flowID), .int(version), .bytes(bytes), .int(clock.now())])
  }

  /// Takes the key's lock first: a racing request with the same key waits here until the
  /// first one commits, then finds its answer (and takes no step).
  func keptReply(owner: String, key: String, since: Int) throws -> KeptReply? {
    let found: PostgresRandomAccessRow?
    if let read = replyRead, read.owner == owner, read.key == key {
      replyRead = nil
      found = try read.row.flatMap { try $0.int("created_at") >= since ? $0 : nil }
    } else {
      try link.send(Statements.LockKey.self, [.text("\(owner)\n\(key)")])
      found = try link.rows(
        Statements.KeptReply.self, [.text(owner), .text(key), .int(since)]
      ).first
    }
    guard let row = found else { return nil }
    return KeptReply(
      digest: try row.text("digest"), status: try row.int("status"), body: try row.bytes("body"))
  }

  /// Sent without waiting (the commit waits for them).
  func keepReply(_ reply: KeptReply, owner: String, key: String, now: Int, forgetBefore: Int)
    throws
  {
    try link.send(Statements.ForgetReplies.self, [.int(forgetBefore)])
    try link.send(
      Statements.KeepReply.self,
      [
        .text(owner), .text(key), .text(reply.digest), .int(reply.status), .bytes(reply.body),
        .int(now),
      ])
  }
}
