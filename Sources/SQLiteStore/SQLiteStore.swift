public import AccountSecurity
public import FlowEngine
internal import Foundation
internal import GRDB
internal import Synchronization

/// The embedded store: one SQLite file through GRDB's `DatabasePool` (WAL), every step one
/// `BEGIN IMMEDIATE` transaction, `synchronous=FULL` unless told otherwise. Several processes
/// may open the same file; SQLite serializes their steps (each waits up to `busyTimeout`).
public final class SQLiteStore: DurableStore, Sendable {
  /// SQLite's `PRAGMA synchronous`: FULL survives power loss; NORMAL only a crash of the process.
  public enum Synchronous: String, Sendable, CaseIterable {
    case full = "FULL"
    case normal = "NORMAL"
  }

  /// A dry-run store delivers into simulated inboxes kept in the file; a live store hands
  /// deliveries to real providers.
  public typealias Kind = StoreKind
  public typealias RetryPolicy = DeliveryRetry

  public let path: String
  public var location: String { path }
  public let sessionKey: SessionKey
  public let kind: Kind
  public let domain: AccountSecurityDomain
  public let clock: any FlowClock
  let pool: DatabasePool
  /// Made once: deriving its key costs as much as a step's SQL.
  let sealer: OutboxSealer

  private init(
    path: String, pool: DatabasePool, key: SessionKey, codes: any CodeGenerator,
    policy: CodePolicy, clock: any FlowClock
  ) throws {
    self.path = path
    self.pool = pool
    let (check, kind, floor) = try Self.wrap {
      try pool.read { db -> (String?, String?, String?) in
        (
          try String.fetchOne(
            db, sql: "SELECT CAST(value AS TEXT) FROM meta WHERE name = 'key-check'"),
          try String.fetchOne(
            db, sql: "SELECT CAST(value AS TEXT) FROM meta WHERE name = 'kind'"),
          try String.fetchOne(
            db, sql: "SELECT CAST(value AS TEXT) FROM meta WHERE name = 'clock'")
        )
      }
    }
    guard let check, let kind, let parsed = Kind(rawValue: kind) else {
      throw StoreError("\(path) is not a flow store (run flowctl store init)")
    }
    // A dry-run store's time may have been moved forward (`moveClock`); it never goes back.
    self.clock =
      parsed == .dryRun ? FloorClock(base: clock, floor: floor.flatMap { Int($0) } ?? .min) : clock
    guard check == Self.keyCheck(key) else {
      throw StoreError("the key given for \(path) is not this store's key")
    }
    self.sessionKey = key
    self.kind = parsed
    self.sealer = OutboxSealer(key)
    self.domain = AccountSecurityDomain(
      codes: codes, policy: policy, secret: OutboxSealer.derive(key, "codes v1"))
  }

  /// What the file keeps of its key: enough to tell a wrong key, nothing to sign with.
  static func keyCheck(_ key: SessionKey) -> String {
    key.tag(Array("flowengine store key check".utf8))
  }

  /// Creates a store at `path` holding the world's accounts, users and call routes. The key
  /// signs its sessions, keys its code hashes and seals its outbox; the file keeps none of it
  /// (keep it apart, as `flowctl store init` does in `PATH.key`). Refuses an existing file
  /// unless `force`.
  public static func create(
    path: String, world: AccountSecurityState, kind: Kind = .dryRun, force: Bool = false,
    synchronous: Synchronous = .full, key: SessionKey = .random(),
    codes: any CodeGenerator = SecureCodeGenerator(), policy: CodePolicy = CodePolicy(),
    clock: any FlowClock = SystemClock()
  ) throws -> SQLiteStore {
    let manager = FileManager.default
    if manager.fileExists(atPath: path) {
      guard force else {
        throw StoreError("\(path) already exists; use --force to replace it")
      }
      for suffix in ["", "-wal", "-shm"] where manager.fileExists(atPath: path + suffix) {
        try manager.removeItem(atPath: path + suffix)
      }
    }
    let pool = try connect(path, synchronous: synchronous)
    try wrap {
      try SQLiteSchema.migrator.migrate(pool)
      try pool.write { db in
        try db.execute(
          sql: "INSERT INTO meta (name, value) VALUES ('key-check', ?), ('kind', ?)",
          arguments: [Data(keyCheck(key).utf8), Data(kind.rawValue.utf8)])
        for account in world.accounts.values.sorted(by: { $0.id < $1.id }) {
          try db.execute(
            sql: "INSERT INTO accounts (id, name) VALUES (?, ?)",
            arguments: [account.id, account.name])
        }
        for user in world.users.values.sorted(by: { $0.id < $1.id }) {
          try SQLiteTables.save(user, in: db)
        }
        for route in world.routes {
          try db.execute(
            sql: "INSERT INTO call_routes (line, user_id) VALUES (?, ?)",
            arguments: [route.line, route.userID])
        }
      }
    }
    return try SQLiteStore(
      path: path, pool: pool, key: key, codes: codes, policy: policy, clock: clock)
  }

  /// Opens an existing store (its schema brought up to date). A step waits up to
  /// `busyTimeout` seconds for another process's step to finish; past that it fails with a
  /// `StoreError` ("database is locked"), never with a rejection.
  public static func open(
    path: String, key: SessionKey, synchronous: Synchronous = .full, busyTimeout: Double = 10,
    codes: any CodeGenerator = SecureCodeGenerator(), policy: CodePolicy = CodePolicy(),
    clock: any FlowClock = SystemClock()
  ) throws -> SQLiteStore {
    guard FileManager.default.fileExists(atPath: path) else {
      throw StoreError("no store at \(path) (create one with flowctl store init)")
    }
    let pool = try connect(path, synchronous: synchronous, busyTimeout: busyTimeout)
    try wrap {
      // A newer flowctl migrated this file: its rows may mean what this binary cannot know.
      if try pool.read({ try SQLiteSchema.migrator.hasBeenSuperseded($0) }) {
        throw StoreError(
          "\(path) was written by a newer flowctl (its schema has migrations this one does not know); use that version"
        )
      }
      try SQLiteSchema.migrator.migrate(pool)
    }
    return try SQLiteStore(
      path: path, pool: pool, key: key, codes: codes, policy: policy, clock: clock)
  }

  private static func connect(
    _ path: String, synchronous: Synchronous, busyTimeout: Double = 10
  ) throws -> DatabasePool {
    var configuration = Configuration()
    configuration.busyMode = .timeout(busyTimeout)
    configuration.prepareDatabase { db in
      try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
    }
    return try wrap { try DatabasePool(path: path, configuration: configuration) }
  }

  /// Turns SQLite's errors into `StoreError`s that say what failed.
  static func wrap<T>(_ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch let error as DatabaseError {
      throw StoreError("SQLite: \(error.message ?? "\(error.resultCode)") (\(error.resultCode))")
    } catch let error as StoreIntegrityError {
      throw StoreError("the store holds data this version cannot read: \(error)")
    }
  }

  // MARK: - SessionStore

  public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T)
    async throws -> T
  {
    let domain = self.domain
    let key = sessionKey
    let sealer = self.sealer
    let clock = self.clock
    let lost = Mutex<[Survivor]>([])
    do {
      return try await Self.wrapAsync {
        try await self.pool.write { db in
          let transaction = SQLiteTransaction(
            db: db, domain: domain, sessionKey: key, sealer: sealer, clock: clock)
          // Kept aside whatever happens: if the body or the COMMIT fails, nothing of this
          // transaction is kept, and the survivors are written again on their own.
          defer { lost.withLock { $0 = transaction.tables.survivors } }
          return try body(transaction)
        }
      }
    } catch {
      // The whole transaction rolled back (the body or its COMMIT failed): failed
      // verifications are counted again in one of their own (SECURITY.md 26).
      let survivors = lost.withLock { $0 }
      if !survivors.isEmpty {
        try await Self.wrapAsync {
          try await self.pool.write { db in
            try SQLiteTables(db: db, sealer: sealer).reapply(survivors)
          }
        }
      }
      throw error
    }
  }

  static func wrapAsync<T>(_ body: () async throws -> T) async throws -> T {
    do {
      return try await body()
    } catch let error as DatabaseError {
      throw StoreError("SQLite: \(error.message ?? "\(error.resultCode)") (\(error.resultCode))")
    } catch let error as StoreIntegrityError {
      throw StoreError("the store holds data this version cannot read: \(error)")
    }
  }

  // MARK: - Tools

  /// The audit log, oldest first, of one session or of all; with `skipping`, without the
  /// first entries (a live view asks for what is new since it last looked).
  public func audit(session: String?, skipping: Int) async throws -> [AuditEntry] {
    try await Self.wrapAsync {
      try await pool.read { db in
        let rows =
          if let session {
            try Row.fetchAll(
              db, sql: "SELECT * FROM audit WHERE session = ? ORDER BY id LIMIT -1 OFFSET ?",
              arguments: [session, skipping])
          } else {
            try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY id")
          }
        return try rows.map { row in
          let kind: String = row["kind"]
          guard let parsed = AuditEntry.Kind(rawValue: kind) else {
            throw StoreIntegrityError("an audit entry has the unknown kind '\(kind)'")
          }
          return AuditEntry(
            time: row["time"], kind: parsed, actor: row["actor"], target: row["target"],
            account: row["account"], flow: row["flow"], session: row["session"],
            outcome: row["outcome"], detail: row["detail"])
        }
      }
    }
  }

  /// Moves a dry-run store's clock forward to `time` (seconds since 1970, UTC), for this
  /// process and every later one; refused on a live store and for a time earlier than the
  /// store's now (its time is monotonic).
  public func moveClock(to time: Int) async throws {
    let clock = try movableClock(to: time)
    try await SQLiteStore.wrapAsync {
      try await pool.write { db in
        try db.execute(
          sql:
            "INSERT INTO meta (name, value) VALUES ('clock', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
          arguments: [String(time)])
      }
    }
    _ = clock.move(to: time)
  }

  /// What the simulated inbox of a dry-run store holds for a destination, oldest first.
  public func inbox(of destination: String) async throws -> [OutboundMessage] {
    guard kind == .dryRun else {
      throw StoreError("\(path) is a live store: its deliveries go to real providers, not inboxes")
    }
    return try await Self.wrapAsync {
      try await pool.read { db in
        try Row.fetchAll(
          db, sql: "SELECT * FROM inbox WHERE destination = ? ORDER BY id",
          arguments: [destination]
        ).map { row in
          let channel: String = row["channel"]
          var message = OutboundMessage(
            channel: OutboundMessage.Channel(rawValue: channel) ?? .sms,
            destination: row["destination"], body: row["body"], sentAt: row["delivered_at"],
            code: row["code"], key: row["key"])
          message.subject = row["subject"]
          return message
        }
      }
    }
  }

  /// A user as the directory holds them now.
  public func user(_ id: String) async throws -> User? {
    let sealer = self.sealer
    return try await Self.wrapAsync {
      try await pool.read { db in
        try SQLiteTables(db: db, sealer: sealer).user(id)
      }
    }
  }

  /// Runs a read-only SQL query (tools and tests: integrity checks, counts); each row as text,
  /// blobs decoded as UTF-8 where they can be (so a search for a text finds it in a blob too).
  public func query(_ sql: String) async throws -> [[String]] {
    try await Self.wrapAsync {
      try await pool.read { db in
        try Row.fetchAll(db, sql: sql).map { row in
          row.databaseValues.map { value in
            switch value.storage {
            case .null: "NULL"
            case .int64(let number): String(number)
            case .double(let number): String(number)
            case .string(let text): text
            case .blob(let data): String(decoding: data, as: UTF8.self)
            }
          }
        }
      }
    }
  }

  /// Moves everything in the write-ahead log into the database file and empties the log.
  public func checkpoint() async throws {
    try await Self.wrapAsync {
      try await pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
    }
  }

  /// Runs SQL that changes the file (tests that tamper with rows on purpose).
  public func execute(_ sql: String) async throws {
    try await Self.wrapAsync { try await pool.write { db in try db.execute(sql: sql) } }
  }

  /// Deliveries committed but not yet handed to a provider (nor given up).
  public func pendingDeliveries() async throws -> Int {
    try await Self.wrapAsync {
      try await pool.read { db in
        try Int.fetchOne(
          db, sql: "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL")
          ?? 0
      }
    }
  }

  /// The seconds since the oldest pending delivery was committed (0 when none is pending):
  /// how far the dispatcher lags behind the steps.
  public func outboxLag() async throws -> Int {
    let now = clock.now()
    return try await Self.wrapAsync {
      try await pool.read { db in
        let oldest = try Int.fetchOne(
          db,
          sql:
            "SELECT MIN(created_at) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL")
        return oldest.map { max(0, now - $0) } ?? 0
      }
    }
  }

  /// The users of the directory, by id.
  public func users() async throws -> [User] {
    let ids = try await Self.wrapAsync {
      try await pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM users ORDER BY id") }
    }
    var users: [User] = []
    for id in ids { if let user = try await user(id) { users.append(user) } }
    return users
  }

  /// Hands every committed, undelivered message that is due to `provider` (the simulated
  /// inbox on a dry-run store when nil), oldest first, and marks each delivered once the
  /// provider took it. A crash in between sends it again with the same key (at least once).
  /// A failed attempt is audited and tried again after the policy's backoff; after its last
  /// attempt the message is given up (`failed_at`), and that is audited too. Returns how many
  /// were delivered.
  @discardableResult
  public func dispatch(
    to provider: (any DeliveryProvider)?, retry: RetryPolicy
  ) async throws -> Int {
    let provider = provider ?? (kind == .dryRun ? SimulatedInbox(store: self) : nil)
    guard let provider else { return 0 }
    let now = clock.now()
    let pending = try await Self.wrapAsync {
      try await pool.read { db in
        try Row.fetchAll(
          db,
          sql: """
            SELECT key, sealed, attempts FROM outbox
            WHERE delivered_at IS NULL AND failed_at IS NULL
              AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
            ORDER BY created_at, key LIMIT 1000
            """, arguments: [now]
        ).map { row -> (String, [UInt8], Int) in
          let sealed: Data = row["sealed"]
          return (row["key"], [UInt8](sealed), row["attempts"])
        }
      }
    }
    var delivered = 0
    for (key, sealed, attempts) in pending {
      let message = try sealer.open(sealed)
      do {
        try await provider.deliver(message)
      } catch {
        try await failed(message, key: key, attempt: attempts + 1, error: error, retry: retry)
        continue
      }
      let now = clock.now()
      try await Self.wrapAsync {
        try await pool.write { db in
          try db.execute(
            sql: """
              UPDATE outbox SET delivered_at = ?, sealed = NULL, attempts = attempts + 1
              WHERE key = ? AND delivered_at IS NULL
              """, arguments: [now, key])
        }
      }
      delivered += 1
    }
    return delivered
  }

  /// Counts a failed attempt, schedules the next one or gives up, and audits it.
  private func failed(
    _ message: OutboundMessage, key: String, attempt: Int, error: any Error, retry: RetryPolicy
  ) async throws {
    let now = clock.now()
    let (entry, givingUp, next) = retry.failure(
      of: message, key: key, attempt: attempt, error: error, now: now)
    try await Self.wrapAsync {
      try await pool.write { db in
        try db.execute(
          sql: """
            UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, failed_at = ?
            WHERE key = ? AND delivered_at IS NULL
            """, arguments: [givingUp ? nil : next, givingUp ? now : nil, key])
        try SQLiteTables.insert(entry, in: db)
      }
    }
  }

  /// What a committed step queued for delivery (destinations masked), for its trace.
  public func queued(by step: SessionEngine.Step) async throws -> [OutboundMessage] {
    guard step.accepted else { return [] }
    let prefix = "\(step.session.id):\(step.session.seq):"
    return try await Self.wrapAsync {
      try await pool.read { db in
        try Row.fetchAll(
          db,
          sql: """
            SELECT channel, destination, key FROM outbox WHERE substr(key, 1, ?) = ?
            ORDER BY created_at, key
            """, arguments: [prefix.count, prefix]
        ).map { row in
          OutboundMessage(
            channel: OutboundMessage.Channel(rawValue: row["channel"]) ?? .sms,
            destination: row["destination"], body: "", sentAt: 0, code: nil, key: row["key"])
        }
      }
    }
  }

  /// The simulated inbox of a dry-run store: the "phone" and "mailbox" that `flowctl store
  /// inbox` reads. It keeps the first copy of each key and logs every attempt.
  struct SimulatedInbox: DeliveryProvider {
    let store: SQLiteStore

    func deliver(_ message: OutboundMessage) async throws {
      let now = store.clock.now()
      let digest = message.contentDigest
      try await SQLiteStore.wrapAsync {
        try await store.pool.write { db in
          try db.execute(
            sql: "INSERT INTO delivery_attempts (key, digest, at) VALUES (?, ?, ?)",
            arguments: [message.key, digest, now])
          try db.execute(
            sql: """
              INSERT INTO inbox (key, channel, destination, subject, body, code, delivered_at)
              VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING
              """,
            arguments: [
              message.key, message.channel.rawValue, message.destination, message.subject,
              message.body, message.code, now,
            ])
        }
      }
    }
  }
}
