internal import AccountSecurity

/// The statements of every step, prepared once per connection (the server parses and plans
/// them once, not on every step). Their placeholders' types come from the columns they meet.
enum Statements {
  static let session = """
    SELECT s.*, f.flow_id, f.version, f.content_hash FROM sessions s
    JOIN flows f ON f.id = s.flow WHERE s.id = $1
    """

  /// A session row to step: locked until the step commits.
  enum SessionForUpdate: PreparedSQL {
    static let name = "flowengine_session_for_update"
    static let sql = session + " FOR UPDATE OF s"
  }

  static let sessionWithSubjects = """
    SELECT s.id, s.state, s.outcome, s.seq, s.actor, s.started_at, s.updated_at, s.expires_at,
      s.due_at, s.body, f.flow_id, f.version, f.content_hash, u.id AS user_id, u.name, u.role,
      u.account, u.email, u.version AS user_version, p.e164, p.verified, t.enabled, t.channel
    FROM sessions s JOIN flows f ON f.id = s.flow
    JOIN users u ON u.id = ANY(s.subjects)
    JOIN phone_numbers p ON p.user_id = u.id
    JOIN two_factor_settings t ON t.user_id = u.id
    WHERE s.id = $1 ORDER BY u.id
    """

  /// A session row to step, locked, with its subjects' users locked against change
  /// (`FOR SHARE`, in id order, as `LockUsers` does) and read: one row per user.
  enum SessionWithSubjects: PreparedSQL {
    static let name = "flowengine_session_with_subjects"
    static let sql = sessionWithSubjects + " FOR UPDATE OF s FOR SHARE OF u, p, t"
  }

  /// `SessionWithSubjects` with no lock taken, outside a transaction: for a step that is
  /// then written by one statement (`SteppedAlone`), which checks that nothing it read
  /// changed.
  enum SessionWithSubjectsUnlocked: PreparedSQL {
    static let name = "flowengine_session_with_subjects_unlocked"
    static let sql = sessionWithSubjects
  }

  /// A session stepped by this one statement on its own (no transaction around it), only if
  /// its seq is still the one read ($9) and its subjects' versions, in id order, are still
  /// the ones read ($10: any change to what a flow reads of a user, their number and 2FA
  /// settings included, raises the user's version); the step's audit entries (from $11, as
  /// arrays) are written only with it. One row: the session rows changed (1 or 0).
  enum SteppedAlone: PreparedSQL {
    static let name = "flowengine_stepped_alone"
    static let sql = steppedAlone(
      audit: """
        SELECT a.* FROM updated, unnest($11::text[], $12::text[], $13::text[], $14::text[],
          $15::text[], $16::text[], $17::text[], $18::text[], $19::text[]) AS a
        """)
  }

  /// `SteppedAlone` with the step's one audit entry as values (from $11).
  enum SteppedAloneWithEntry: PreparedSQL {
    static let name = "flowengine_stepped_alone_with_entry"
    static let sql = steppedAlone(
      audit: """
        SELECT $11::text, $12::text, $13::text, $14::text, $15::text, $16::text, $17::text,
          $18::text, $19::text FROM updated
        """)
  }

  /// A session's update checked against what its step read, with its audit entries (`audit`
  /// selects them from `updated`, so they are written only with it).
  static func steppedAlone(audit: String) -> String {
    """
    WITH updated AS (
      UPDATE sessions s SET state = $1, outcome = $2, seq = $3, updated_at = $4,
        expires_at = $5, due_at = $6, body = $7
      WHERE s.id = $8 AND s.seq = $9 AND ARRAY(
        SELECT u.version FROM users u WHERE u.id = ANY(s.subjects) ORDER BY u.id)
        = $10::bigint[]
      RETURNING 1),
    audited AS (
      INSERT INTO audit (time, kind, actor, target, account, flow, session, outcome, detail)
      \(audit))
    SELECT count(*) AS changed FROM updated
    """
  }

  /// A session row to show.
  enum SessionToRead: PreparedSQL {
    static let name = "flowengine_session_to_read"
    static let sql = session
  }

  static let userColumns = """
    SELECT u.id, u.name, u.role, u.account, u.email, u.version, p.e164, p.verified,
      t.enabled, t.channel
    FROM users u JOIN phone_numbers p ON p.user_id = u.id
    JOIN two_factor_settings t ON t.user_id = u.id
    """

  /// A user with their number and 2FA settings.
  enum User: PreparedSQL {
    static let name = "flowengine_user"
    static let sql = userColumns + " WHERE u.id = $1"
  }

  /// Users read and locked against change (`FOR SHARE`), in id order, with their number and
  /// settings rows.
  enum LockUsers: PreparedSQL {
    static let name = "flowengine_lock_users"
    static let sql =
      userColumns + " WHERE u.id = ANY($1::text[]) ORDER BY u.id FOR SHARE OF u, p, t"
  }

  /// Audit entries from nine arrays (one per column, an entry per index), in order.
  static func auditInsert(from first: Int) -> String {
    let arrays = (first..<first + 9).map { "$\($0)::text[]" }.joined(separator: ", ")
    return """
      INSERT INTO audit (time, kind, actor, target, account, flow, session, outcome, detail)
      SELECT * FROM unnest(\(arrays))
      """
  }

  /// The values of `auditInsert` for these entries.
  static func auditArrays(_ entries: [AuditEntry]) -> [SQLValue] {
    [
      .texts(entries.map(\.time)), .texts(entries.map(\.kind.rawValue)),
      .texts(entries.map(\.actor)), .texts(entries.map(\.target)),
      .texts(entries.map(\.account)), .texts(entries.map(\.flow)),
      .texts(entries.map(\.session)), .texts(entries.map(\.outcome)),
      .texts(entries.map(\.detail)),
    ]
  }

  enum InsertAudit: PreparedSQL {
    static let name = "flowengine_insert_audit"
    static let sql = auditInsert(from: 1)
  }

  /// A new session with its subjects, and the step's audit entries (from $13).
  enum InsertSession: PreparedSQL {
    static let name = "flowengine_insert_session"
    static let sql = """
      WITH audited AS (\(auditInsert(from: 13)))
      INSERT INTO sessions (id, flow, state, outcome, seq, actor, started_at, updated_at,
        expires_at, due_at, body, subjects)
      VALUES ($1, (SELECT id FROM flows WHERE content_hash = $2), $3, $4, $5, $6, $7, $8, $9,
        $10, $11, $12::text[])
      """
  }

  /// A session row stepped, only if its seq is still the one read ($9).
  static let sessionUpdate = """
    UPDATE sessions SET state = $1, outcome = $2, seq = $3, updated_at = $4, expires_at = $5,
      due_at = $6, body = $7
    WHERE id = $8 AND seq = $9 RETURNING 1
    """

  /// A session stepped, with the step's audit entries (from $10); a row per row changed.
  enum UpdateSession: PreparedSQL {
    static let name = "flowengine_update_session"
    static let sql = "WITH audited AS (\(auditInsert(from: 10)))\n" + sessionUpdate
  }

  /// `UpdateSession` with the step's one audit entry as values (from $10), not arrays: the
  /// common step, for which the server then builds no arrays to unnest.
  enum UpdateSessionWithEntry: PreparedSQL {
    static let name = "flowengine_update_session_with_entry"
    static let sql = """
      WITH audited AS (
        INSERT INTO audit (time, kind, actor, target, account, flow, session, outcome, detail)
        VALUES ($10, $11, $12, $13, $14, $15, $16, $17, $18))

      """ + sessionUpdate
  }

  /// The values of `UpdateSessionWithEntry`'s audit entry.
  static func auditValues(_ entry: AuditEntry) -> [SQLValue] {
    [
      .text(entry.time), .text(entry.kind.rawValue), .text(entry.actor), .text(entry.target),
      .text(entry.account), .text(entry.flow), .text(entry.session), .text(entry.outcome),
      .text(entry.detail),
    ]
  }

  /// `UpdateSession` for a session row this transaction locked: sent without waiting, so a
  /// row not changed (which the lock rules out) fails the transaction in the server.
  enum UpdateLockedSession: PreparedSQL {
    static let name = "flowengine_update_locked_session"
    static let sql = """
      WITH audited AS (\(auditInsert(from: 10))), updated AS (\(sessionUpdate))
      SELECT flowengine_step_applied(count(*), $8) FROM updated
      """
  }

  /// A flow text kept (once per content hash: a text kept already is left as it is).
  enum KeepFlowText: PreparedSQL {
    static let name = "flowengine_keep_flow_text"
    static let sql = """
      INSERT INTO flows (content_hash, flow_id, version, text, kept_at)
      VALUES ($1, $2, $3, $4, $5) ON CONFLICT (content_hash) DO NOTHING
      """
  }

  /// An idempotency key's lock, held until the transaction ends.
  enum LockKey: PreparedSQL {
    static let name = "flowengine_lock_key"
    static let sql = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
  }

  /// The answer kept for a key, if it is recent enough.
  enum KeptReply: PreparedSQL {
    static let name = "flowengine_kept_reply"
    static let sql = """
      SELECT digest, status, body, created_at FROM idempotency
      WHERE owner = $1 AND key = $2 AND created_at >= $3
      """
  }

  /// Kept answers past their window, forgotten.
  enum ForgetReplies: PreparedSQL {
    static let name = "flowengine_forget_replies"
    static let sql = "DELETE FROM idempotency WHERE created_at < $1"
  }

  /// The answer kept for a key (replacing one past its window).
  enum KeepReply: PreparedSQL {
    static let name = "flowengine_keep_reply"
    static let sql = """
      INSERT INTO idempotency (owner, key, digest, status, body, created_at)
      VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (owner, key) DO UPDATE SET digest = excluded.digest, status = excluded.status,
        body = excluded.body, created_at = excluded.created_at
      """
  }
}

/// The 2FA domain's statements of a step (`PostgresTables`), prepared once per connection as
/// the step's own are.
extension Statements {
  enum AccountName: PreparedSQL {
    static let name = "flowengine_account_name"
    static let sql = "SELECT name FROM accounts WHERE id = $1"
  }

  enum UpdateProfile: PreparedSQL {
    static let name = "flowengine_update_profile"
    static let sql =
      "UPDATE users SET name = $1, role = $2, account = $3, email = $4 WHERE id = $5"
  }

  enum UpdatePhone: PreparedSQL {
    static let name = "flowengine_update_phone"
    static let sql = "UPDATE phone_numbers SET e164 = $1, verified = $2 WHERE user_id = $3"
  }

  enum UpdateTwoFactor: PreparedSQL {
    static let name = "flowengine_update_two_factor"
    static let sql = "UPDATE two_factor_settings SET enabled = $1, channel = $2 WHERE user_id = $3"
  }

  enum UserVersion: PreparedSQL {
    static let name = "flowengine_user_version"
    static let sql = "SELECT version FROM users WHERE id = $1"
  }

  enum ActiveCodes: PreparedSQL {
    static let name = "flowengine_active_codes"
    static let sql =
      "SELECT * FROM codes WHERE user_id = $1 AND NOT used AND NOT invalidated ORDER BY id"
  }

  enum InsertCode: PreparedSQL {
    static let name = "flowengine_insert_code"
    static let sql = """
      INSERT INTO codes (user_id, purpose, session, destination, salt, hash, issued_at,
        expires_at, used, invalidated)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id
      """
  }

  enum UpdateCode: PreparedSQL {
    static let name = "flowengine_update_code"
    static let sql = "UPDATE codes SET used = $1, invalidated = $2 WHERE id = $3"
  }

  enum UsedCodes: PreparedSQL {
    static let name = "flowengine_used_codes"
    static let sql = "SELECT destination FROM codes WHERE session = $1 AND user_id = $2 AND used"
  }

  enum LockCounter: PreparedSQL {
    static let name = "flowengine_lock_counter"
    static let sql = "SELECT pg_advisory_xact_lock(hashtextextended($1, 1))"
  }

  enum Failures: PreparedSQL {
    static let name = "flowengine_failures"
    static let sql = "SELECT count FROM failure_counters WHERE key = $1"
  }

  enum SetFailures: PreparedSQL {
    static let name = "flowengine_set_failures"
    static let sql = """
      INSERT INTO failure_counters (key, count) VALUES ($1, $2)
      ON CONFLICT (key) DO UPDATE SET count = excluded.count
      """
  }

  enum LastSend: PreparedSQL {
    static let name = "flowengine_last_send"
    static let sql = "SELECT at FROM last_sends WHERE key = $1"
  }

  enum SetLastSend: PreparedSQL {
    static let name = "flowengine_set_last_send"
    static let sql = """
      INSERT INTO last_sends (key, at) VALUES ($1, $2)
      ON CONFLICT (key) DO UPDATE SET at = excluded.at
      """
  }

  enum InsertOutbox: PreparedSQL {
    static let name = "flowengine_insert_outbox"
    static let sql = """
      INSERT INTO outbox (key, channel, destination, sealed, created_at)
      VALUES ($1, $2, $3, $4, $5)
      """
  }

  enum LastPhoneChange: PreparedSQL {
    static let name = "flowengine_last_phone_change"
    static let sql = """
      SELECT * FROM phone_changes WHERE session = $1 AND user_id = $2
      ORDER BY id DESC LIMIT 1
      """
  }

  enum InsertPhoneChange: PreparedSQL {
    static let name = "flowengine_insert_phone_change"
    static let sql = """
      INSERT INTO phone_changes (user_id, previous, current, session, at)
      VALUES ($1, $2, $3, $4, $5)
      """
  }
}
