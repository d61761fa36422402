internal import Foundation

/// The store's tables in PostgreSQL: the same as the SQLite store's (flow texts, sessions, the
/// outbox, the idempotency answers, and the 2FA domain's tables), in migrations applied in
/// order, each once, under an advisory lock so that processes starting together do not race.
/// A database with a migration this binary does not know is refused.
enum PostgresSchema {
  static let lock = 0x666C_6F77  // "flow"

  static let migrations: [(String, String)] = [
    (
      "v1",
      """
      CREATE TABLE meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
      CREATE TABLE flows (
        id BIGSERIAL PRIMARY KEY, content_hash TEXT NOT NULL UNIQUE, flow_id TEXT NOT NULL,
        version BIGINT NOT NULL, text BYTEA NOT NULL, kept_at BIGINT NOT NULL);
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY, flow BIGINT NOT NULL REFERENCES flows(id), state TEXT NOT NULL,
        outcome TEXT, seq BIGINT NOT NULL, actor TEXT NOT NULL, started_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, due_at BIGINT,
        body BYTEA NOT NULL);
      CREATE INDEX sessions_due ON sessions(due_at) WHERE due_at IS NOT NULL;
      CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL);
      CREATE TABLE users (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
        account TEXT NOT NULL REFERENCES accounts(id), email TEXT NOT NULL,
        version BIGINT NOT NULL DEFAULT 0);
      CREATE TABLE phone_numbers (
        user_id TEXT PRIMARY KEY REFERENCES users(id), e164 TEXT NOT NULL,
        verified BOOLEAN NOT NULL);
      CREATE TABLE two_factor_settings (
        user_id TEXT PRIMARY KEY REFERENCES users(id), enabled BOOLEAN NOT NULL,
        channel TEXT NOT NULL);
      -- A user's version goes up with any change to what flows read about them, whoever makes
      -- it (a session that finds another version than its last step left stops).
      CREATE FUNCTION users_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$;
      CREATE TRIGGER users_version BEFORE UPDATE ON users FOR EACH ROW
        WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.account IS DISTINCT FROM NEW.account OR OLD.email IS DISTINCT FROM NEW.email)
        EXECUTE FUNCTION users_version();
      CREATE FUNCTION owner_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN UPDATE users SET version = version + 1 WHERE id = NEW.user_id; RETURN NEW; END $$;
      CREATE TRIGGER phone_numbers_version AFTER UPDATE ON phone_numbers FOR EACH ROW
        WHEN (OLD.e164 IS DISTINCT FROM NEW.e164 OR OLD.verified IS DISTINCT FROM NEW.verified)
        EXECUTE FUNCTION owner_version();
      CREATE TRIGGER two_factor_settings_version AFTER UPDATE ON two_factor_settings
        FOR EACH ROW
        WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled
          OR OLD.channel IS DISTINCT FROM NEW.channel)
        EXECUTE FUNCTION owner_version();
      CREATE TABLE codes (
        id BIGSERIAL PRIMARY KEY, user_id TEXT NOT NULL, purpose TEXT NOT NULL,
        session TEXT NOT NULL, destination BYTEA NOT NULL, salt BYTEA NOT NULL,
        hash BYTEA NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
        used BOOLEAN NOT NULL DEFAULT false, invalidated BOOLEAN NOT NULL DEFAULT false);
      CREATE INDEX codes_active ON codes(user_id) WHERE NOT used AND NOT invalidated;
      CREATE INDEX codes_session ON codes(session);
      CREATE TABLE failure_counters (key TEXT PRIMARY KEY, count BIGINT NOT NULL);
      CREATE TABLE last_sends (key TEXT PRIMARY KEY, at BIGINT NOT NULL);
      CREATE TABLE phone_changes (
        id BIGSERIAL PRIMARY KEY, user_id TEXT NOT NULL, previous BYTEA NOT NULL,
        current BYTEA NOT NULL, session TEXT NOT NULL, at BIGINT NOT NULL);
      CREATE INDEX phone_changes_session ON phone_changes(session, user_id);
      CREATE TABLE audit (
        id BIGSERIAL PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
        target TEXT NOT NULL, account TEXT NOT NULL, flow TEXT NOT NULL, session TEXT NOT NULL,
        outcome TEXT NOT NULL, detail TEXT NOT NULL);
      CREATE INDEX audit_session ON audit(session);
      -- A delivery is claimed by one process at a time (claimed_until), sent, and marked.
      CREATE TABLE outbox (
        key TEXT PRIMARY KEY, channel TEXT NOT NULL, destination TEXT NOT NULL, sealed BYTEA,
        created_at BIGINT NOT NULL, delivered_at BIGINT, attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at BIGINT, failed_at BIGINT, claimed_until BIGINT);
      CREATE INDEX outbox_pending ON outbox(created_at)
        WHERE delivered_at IS NULL AND failed_at IS NULL;
      CREATE TABLE call_routes (line TEXT PRIMARY KEY, user_id TEXT NOT NULL);
      CREATE TABLE inbox (
        id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL UNIQUE, channel TEXT NOT NULL,
        destination TEXT NOT NULL, subject TEXT, body TEXT NOT NULL, code TEXT,
        delivered_at BIGINT NOT NULL);
      CREATE INDEX inbox_destination ON inbox(destination);
      CREATE TABLE delivery_attempts (
        id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, digest TEXT NOT NULL, at BIGINT NOT NULL);
      CREATE TABLE idempotency (
        owner TEXT NOT NULL, key TEXT NOT NULL, digest TEXT NOT NULL, status BIGINT NOT NULL,
        body BYTEA NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (owner, key));
      CREATE INDEX idempotency_created ON idempotency(created_at);
      """
    ),
    (
      // The users a session's step reads (its subjects), so the step locks and reads them in
      // the statement that locks the session (sessions from before have none: their steps
      // lock their users in a statement of their own).
      "v2-session-subjects",
      """
      ALTER TABLE sessions ADD COLUMN subjects TEXT[];
      """
    ),
    (
      // A step's update is sent without waiting for its answer (its session row is locked
      // since the step read it), so a row it did not change must fail the transaction in the
      // server: as a serialization failure, which the store runs again.
      "v3-step-applied",
      """
      CREATE FUNCTION flowengine_step_applied(changed BIGINT, session TEXT) RETURNS BIGINT
        LANGUAGE plpgsql AS $$ BEGIN IF changed <> 1 THEN RAISE EXCEPTION 'session % moved on under its step', session USING ERRCODE = '40001'; END IF; RETURN changed; END $$;
      """
    ),
  ]

  /// Brings the database up to date, or refuses one that a newer binary migrated.
  static func migrate(_ link: PostgresLink, location: String) throws {
    try link.execute("BEGIN")
    do {
      try link.execute("SELECT pg_advisory_xact_lock(\(lock))")
      try link.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
          identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
        """)
      let applied = Set(
        try link.rows("SELECT identifier FROM schema_migrations").map { try $0.text("identifier") }
      )
      let known = Set(migrations.map(\.0))
      if let unknown = applied.subtracting(known).sorted().first {
        throw PostgresStoreError(
          "\(location) was migrated by a newer flowctl (migration '\(unknown)' is unknown to this one); use that version"
        )
      }
      for (identifier, sql) in migrations where !applied.contains(identifier) {
        // One statement a query (the extended protocol takes no more): a statement ends
        // with a semicolon at the end of its line.
        for statement in sql.components(separatedBy: ";\n") {
          let text = statement.trimmingCharacters(in: CharacterSet(charactersIn: " \n;"))
          if !text.isEmpty { try link.execute(text) }
        }
        try link.execute(
          "INSERT INTO schema_migrations (identifier) VALUES ($1)", [.text(identifier)])
      }
      try link.execute("COMMIT")
    } catch {
      _ = try? link.execute("ROLLBACK")
      throw error
    }
  }
}
