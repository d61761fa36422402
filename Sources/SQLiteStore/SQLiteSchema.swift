internal import GRDB

/// The store's tables, created and evolved by GRDB's `DatabaseMigrator`: the engine's (flow
/// texts, sessions, the outbox) and the 2FA domain's (accounts, users, phone numbers, 2FA
/// settings, codes, failure counters, send times, number changes, audit, call routes), and the
/// simulated inbox of dry-run stores.
enum SQLiteSchema {
  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      try db.execute(
        sql: """
          CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
          CREATE TABLE flows (
            id INTEGER PRIMARY KEY, content_hash TEXT NOT NULL UNIQUE, flow_id TEXT NOT NULL,
            version INTEGER NOT NULL, text BLOB NOT NULL, kept_at INTEGER NOT NULL);
          -- One row per session, keyed by its id (no rowid: no second index). The columns are
          -- for tools; the body (Session.packed) is what a step reads, and it is signed.
          CREATE TABLE sessions (
            id TEXT PRIMARY KEY, flow INTEGER NOT NULL REFERENCES flows(id),
            state TEXT NOT NULL, outcome TEXT, seq INTEGER NOT NULL, actor TEXT NOT NULL,
            started_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
            body BLOB NOT NULL) WITHOUT ROWID;
          CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL);
          CREATE TABLE users (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
            account TEXT NOT NULL REFERENCES accounts(id), email TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 0);
          CREATE TABLE phone_numbers (
            user TEXT PRIMARY KEY REFERENCES users(id), e164 TEXT NOT NULL,
            verified INTEGER NOT NULL);
          CREATE TABLE two_factor_settings (
            user TEXT PRIMARY KEY REFERENCES users(id), enabled INTEGER NOT NULL,
            channel TEXT NOT NULL);
          -- A user's version goes up with any change to what flows read about them, whoever
          -- makes it (a session that finds another version than its last step left stops).
          CREATE TRIGGER users_version AFTER UPDATE OF name, role, account, email ON users
            WHEN OLD.name IS NOT NEW.name OR OLD.role IS NOT NEW.role
              OR OLD.account IS NOT NEW.account OR OLD.email IS NOT NEW.email
            BEGIN UPDATE users SET version = version + 1 WHERE id = NEW.id; END;
          CREATE TRIGGER phone_numbers_version AFTER UPDATE ON phone_numbers
            WHEN OLD.e164 IS NOT NEW.e164 OR OLD.verified IS NOT NEW.verified
            BEGIN UPDATE users SET version = version + 1 WHERE id = NEW.user; END;
          CREATE TRIGGER two_factor_settings_version AFTER UPDATE ON two_factor_settings
            WHEN OLD.enabled IS NOT NEW.enabled OR OLD.channel IS NOT NEW.channel
            BEGIN UPDATE users SET version = version + 1 WHERE id = NEW.user; END;
          CREATE TABLE codes (
            id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, purpose TEXT NOT NULL,
            session TEXT NOT NULL, destination BLOB NOT NULL, salt BLOB NOT NULL,
            hash BLOB NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
            used INTEGER NOT NULL DEFAULT 0, invalidated INTEGER NOT NULL DEFAULT 0);
          CREATE INDEX codes_active ON codes(user) WHERE used = 0 AND invalidated = 0;
          CREATE INDEX codes_session ON codes(session);
          CREATE TABLE failure_counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL);
          CREATE TABLE last_sends (key TEXT PRIMARY KEY, at INTEGER NOT NULL);
          CREATE TABLE phone_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, previous BLOB NOT NULL,
            current BLOB NOT NULL, session TEXT NOT NULL, at INTEGER NOT NULL);
          CREATE INDEX phone_changes_session ON phone_changes(session, user);
          CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, kind TEXT NOT NULL,
            actor TEXT NOT NULL, target TEXT NOT NULL, account TEXT NOT NULL, flow TEXT NOT NULL,
            session TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL);
          CREATE INDEX audit_session ON audit(session);
          CREATE TABLE outbox (
            key TEXT PRIMARY KEY, channel TEXT NOT NULL, destination TEXT NOT NULL,
            sealed BLOB, created_at INTEGER NOT NULL, delivered_at INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0);
          CREATE INDEX outbox_pending ON outbox(created_at) WHERE delivered_at IS NULL;
          CREATE TABLE call_routes (line TEXT PRIMARY KEY, user_id TEXT NOT NULL);
          CREATE TABLE inbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, channel TEXT NOT NULL,
            destination TEXT NOT NULL, body TEXT NOT NULL, code TEXT, delivered_at INTEGER NOT NULL);
          CREATE INDEX inbox_destination ON inbox(destination);
          CREATE TABLE delivery_attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, digest TEXT NOT NULL,
            at INTEGER NOT NULL);
          """)
    }
    // Timers: when each session's next timer falls due, indexed for `tick`.
    migrator.registerMigration("v2-timers") { db in
      try db.execute(
        sql: """
          ALTER TABLE sessions ADD COLUMN due_at INTEGER;
          CREATE INDEX sessions_due ON sessions(due_at) WHERE due_at IS NOT NULL;
          """)
    }
    // Email subjects in the simulated inbox.
    migrator.registerMigration("v3-subjects") { db in
      try db.execute(sql: "ALTER TABLE inbox ADD COLUMN subject TEXT")
    }
    // The service: answers kept for idempotency keys (24 hours), and deliveries to real
    // providers retried with backoff until they succeed or give up (`failed_at`).
    migrator.registerMigration("v4-service") { db in
      try db.execute(
        sql: """
          CREATE TABLE idempotency (
            owner TEXT NOT NULL, key TEXT NOT NULL, digest TEXT NOT NULL,
            status INTEGER NOT NULL, body BLOB NOT NULL, created_at INTEGER NOT NULL,
            PRIMARY KEY (owner, key));
          CREATE INDEX idempotency_created ON idempotency(created_at);
          ALTER TABLE outbox ADD COLUMN next_attempt_at INTEGER;
          ALTER TABLE outbox ADD COLUMN failed_at INTEGER;
          """)
    }
    return migrator
  }
}
