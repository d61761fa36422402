public import AccountSecurity
public import FlowEngine
internal import Foundation
public import Logging
internal import NIOCore
internal import NIOPosix
internal import PostgresNIO
internal import Synchronization

/// The store for several processes: PostgreSQL through postgres-nio's `PostgresClient`. Every
/// step is one transaction on one pooled connection (the session row locked, its `seq`
/// checked); due timers and outbox rows are claimed with `SKIP LOCKED`, so each fires or is
/// sent by one process at a time. The engine's transaction code is synchronous, so a step runs
/// on a thread pool of the store's own and waits for each query there.
public final class PostgresStore: DurableStore, Sendable {
  public let location: String
  public let sessionKey: SessionKey
  public let kind: StoreKind
  public let domain: AccountSecurityDomain
  public let clock: any FlowClock
  let client: PostgresClient
  let sealer: OutboxSealer
  let threads: NIOThreadPool
  /// The statements each of the client's connections has prepared.
  let prepared = PreparedStatements()
  let runner: Task<Void, Never>
  /// The event loops of the store's connections (its own, so closing the store ends them).
  let loops: MultiThreadedEventLoopGroup
  /// Outbox rows this process's committed steps queued since it last dispatched them.
  let queuedHere = Atomic<Int>(0)
  /// Transactions that ran on their connection's event loop (committed or failed there), and
  /// ones that began there, waited, and ran again on a thread (for tests and benchmarks).
  let stepsOnLoopCount = Atomic<Int>(0)
  let stepsMoved = Atomic<Int>(0)
  /// Steps written by one statement on their own (counted in `stepsOnLoop` too).
  let stepsAlone = Atomic<Int>(0)

  /// How many steps ran on their connection's event loop (`alone` of them with no
  /// transaction around them), and how many began there and went on on a thread (they
  /// waited for a row the store had not read for them).
  public var stepsOnLoop: (onLoop: Int, alone: Int, moved: Int) {
    (
      stepsOnLoopCount.load(ordering: .relaxed) + stepsAlone.load(ordering: .relaxed),
      stepsAlone.load(ordering: .relaxed), stepsMoved.load(ordering: .relaxed)
    )
  }
  let logger: Logger

  /// Whether `text` names a PostgreSQL database (`postgres://` or `postgresql://`).
  public static func isURL(_ text: String) -> Bool {
    text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
  }

  /// The URL without its password, for messages.
  public static func redacted(_ url: String) throws -> String {
    try configuration(url).1
  }

  /// The client configuration of a URL `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or
  /// of one naming the server's unix socket folder as libpq does,
  /// `postgres://USER@/DATABASE?host=/run/postgresql` (the socket `.s.PGSQL.PORT` there; a
  /// server on the same machine answers faster through it than through TCP), and the URL
  /// without its password (for messages).
  static func configuration(_ url: String) throws -> (PostgresClient.Configuration, String) {
    let example =
      "postgres://user@127.0.0.1:5432/flowengine or postgres://user@/flowengine?host=/run/postgresql"
    guard let parts = URLComponents(string: url), isURL(url) else {
      throw StoreError("'\(url)' is not a PostgreSQL URL such as \(example)")
    }
    let database = String(parts.path.drop(while: { $0 == "/" }))
    let socketFolder = parts.queryItems?.first(where: { $0.name == "host" })?.value
    var configuration: PostgresClient.Configuration
    if let socketFolder, !socketFolder.isEmpty {
      guard socketFolder.hasPrefix("/"), parts.host ?? "" == "" else {
        throw StoreError(
          "'\(url)': host= names the folder of the server's unix socket (an absolute path), with no host before the database, as in \(example)"
        )
      }
      configuration = PostgresClient.Configuration(
        unixSocketPath: "\(socketFolder)/.s.PGSQL.\(parts.port ?? 5432)",
        username: parts.user ?? "postgres", password: parts.password,
        database: database.isEmpty ? nil : database)
    } else {
      guard let host = parts.host, !host.isEmpty else {
        throw StoreError("'\(url)' names no host; a PostgreSQL URL is such as \(example)")
      }
      configuration = PostgresClient.Configuration(
        host: host, port: parts.port ?? 5432, username: parts.user ?? "postgres",
        password: parts.password, database: database.isEmpty ? nil : database, tls: .disable)
    }
    configuration.options.maximumConnections = 32
    configuration.options.connectTimeout = .seconds(5)
    // Nothing waits forever: a statement stuck behind a lock fails after 10 s, and a
    // transaction left open by a process that stopped answering is ended by the server.
    // A step's prepared statements look rows up by key: one generic plan serves every call
    // (the server would otherwise plan each call afresh while it weighs the two).
    configuration.options.additionalStartupParameters = [
      ("statement_timeout", "10s"), ("idle_in_transaction_session_timeout", "15s"),
      ("plan_cache_mode", "force_generic_plan"),
    ]
    var shown = parts
    shown.password = nil
    return (configuration, shown.string ?? url)
  }

  private init(
    url: String, key: SessionKey, codes: any CodeGenerator, policy: CodePolicy,
    clock: any FlowClock, logger: Logger, creating: (kind: StoreKind, force: Bool)?
  ) async throws {
    let (configuration, shown) = try Self.configuration(url)
    self.location = shown
    self.logger = logger
    // The pool's own chatter (a lease asked for while its run loop is still starting) is not
    // the operator's business; its errors are.
    var background = logger
    background.logLevel = .error
    // A step's work runs on the store's threads; the loops only read and write the
    // connections, so half the cores serve (one on two cores: measured faster there than
    // the shared group of one per core, with the engine, the server and PostgreSQL sharing
    // them).
    let loops = MultiThreadedEventLoopGroup(numberOfThreads: max(1, System.coreCount / 2))
    self.loops = loops
    let client = PostgresClient(
      configuration: configuration, eventLoopGroup: loops, backgroundLogger: background)
    self.client = client
    self.runner = Task { await client.run() }
    let threads = NIOThreadPool(numberOfThreads: 32)
    threads.start()
    self.threads = threads
    self.sessionKey = key
    self.sealer = OutboxSealer(key)
    self.domain = AccountSecurityDomain(
      codes: codes, policy: policy, secret: OutboxSealer.derive(key, "codes v1"))
    let check = SQLiteCompatibleKeyCheck.value(key)
    let found: (check: String?, kind: String?, floor: String?)
    do {
      found = try await Self.run(client, threads, prepared, logger) { link in
        if let creating, creating.force {
          try link.execute("DROP SCHEMA public CASCADE")
          try link.execute("CREATE SCHEMA public")
        }
        try PostgresSchema.migrate(link, location: shown)
        func meta(_ name: String) throws -> String? {
          try link.rows("SELECT value FROM meta WHERE name = $1", [.text(name)]).first.map {
            String(decoding: try $0.bytes("value"), as: UTF8.self)
          }
        }
        if let creating {
          if try meta("key-check") != nil {
            throw StoreError("\(shown) already holds a flow store; use --force to replace it")
          }
          try link.execute(
            "INSERT INTO meta (name, value) VALUES ('key-check', $1), ('kind', $2)",
            [.bytes(Array(check.utf8)), .bytes(Array(creating.kind.rawValue.utf8))])
        }
        return (try meta("key-check"), try meta("kind"), try meta("clock"))
      }
    } catch {
      await Self.stop(runner, threads, loops)
      throw Self.storeError(error)
    }
    guard let stored = found.check, let kind = found.kind.flatMap(StoreKind.init(rawValue:)) else {
      await Self.stop(runner, threads, loops)
      throw StoreError("\(shown) is not a flow store (run flowctl store init)")
    }
    guard stored == check else {
      await Self.stop(runner, threads, loops)
      throw StoreError("the key given for \(shown) is not this store's key")
    }
    self.kind = kind
    self.clock =
      kind == .dryRun
      ? FloorClock(base: clock, floor: found.floor.flatMap { Int($0) } ?? .min) : clock
  }

  /// Opens the store at `url` (its schema brought up to date).
  public static func open(
    url: String, key: SessionKey, codes: any CodeGenerator = SecureCodeGenerator(),
    policy: CodePolicy = CodePolicy(), clock: any FlowClock = SystemClock(),
    logger: Logger = Logger(label: "flowengine.postgres")
  ) async throws -> PostgresStore {
    try await PostgresStore(
      url: url, key: key, codes: codes, policy: policy, clock: clock, logger: logger,
      creating: nil)
  }

  /// Creates a store in the database at `url` holding the world's accounts, users and call
  /// routes. Refuses a database that holds one already unless `force` (which drops every
  /// table of its public schema first).
  public static func create(
    url: String, world: AccountSecurityState, kind: StoreKind = .dryRun, force: Bool = false,
    key: SessionKey = .random(), codes: any CodeGenerator = SecureCodeGenerator(),
    policy: CodePolicy = CodePolicy(), clock: any FlowClock = SystemClock(),
    logger: Logger = Logger(label: "flowengine.postgres")
  ) async throws -> PostgresStore {
    let store = try await PostgresStore(
      url: url, key: key, codes: codes, policy: policy, clock: clock, logger: logger,
      creating: (kind, force))
    try await store.run { link in
      try link.execute("BEGIN")
      for account in world.accounts.values.sorted(by: { $0.id < $1.id }) {
        try link.execute(
          "INSERT INTO accounts (id, name) VALUES ($1, $2)",
          [.text(account.id), .text(account.name)])
      }
      for user in world.users.values.sorted(by: { $0.id < $1.id }) {
        try PostgresTables.save(user, on: link)
      }
      for route in world.routes {
        try link.execute(
          "INSERT INTO call_routes (line, user_id) VALUES ($1, $2)",
          [.text(route.line), .text(route.userID)])
      }
      try link.execute("COMMIT")
    }
    return store
  }

  /// Stops the client and the threads (call once, when done with the store).
  public func close() async {
    await Self.stop(runner, threads, loops)
  }

  /// Ends the client (its connections closed), then the threads and the loops.
  static func stop(
    _ runner: Task<Void, Never>, _ threads: NIOThreadPool, _ loops: MultiThreadedEventLoopGroup
  ) async {
    runner.cancel()
    await runner.value
    try? await threads.shutdownGracefully()
    try? await loops.shutdownGracefully()
  }

  // MARK: - Running queries

  /// Runs `body` with a leased connection on the store's threads (where waiting is allowed).
  func run<T: Sendable>(_ body: @escaping @Sendable (PostgresLink) throws -> T) async throws -> T {
    try await Self.run(client, threads, prepared, logger, body)
  }

  static func run<T: Sendable>(
    _ client: PostgresClient, _ threads: NIOThreadPool, _ prepared: PreparedStatements,
    _ logger: Logger,
    _ body: @escaping @Sendable (PostgresLink) throws -> T
  ) async throws -> T {
    try await client.withConnection { connection in
      try await threads.runIfActive {
        try body(PostgresLink(connection, logger: logger, prepared: prepared))
      }
    }
  }

  /// A read in a transaction of its own.
  func read<T: Sendable>(_ body: @escaping @Sendable (PostgresLink) throws -> T) async throws -> T {
    do {
      return try await run(body)
    } catch {
      throw Self.storeError(error)
    }
  }

  /// PostgreSQL's errors as `StoreError`s that say what failed (and no more: a query's
  /// parameters never appear).
  static func storeError(_ error: any Error) -> any Error {
    switch error {
    case let error as PSQLError:
      if let message = error.serverInfo?[.message] {
        let state = error.serverInfo?[.sqlState] ?? "?"
        return StoreError("PostgreSQL: \(message) (\(state))")
      }
      return StoreError("PostgreSQL: \(error.code)")
    case let error as PostgresStoreError: return StoreError("PostgreSQL: \(error)")
    case let error as StoreIntegrityError:
      return StoreError("the store holds data this version cannot read: \(error)")
    default: return error
    }
  }

  /// A serialization failure or a deadlock: the transaction may simply be run again.
  static func isRetryable(_ error: any Error) -> Bool {
    if let error = error as? PostgresStoreError { return error.retryable }
    guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else {
      return false
    }
    return state == "40001" || state == "40P01"
  }

  // MARK: - SessionStore

  public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T)
    async throws -> T
  {
    try await write(reading: [], body)
  }

  /// A step told what it reads first runs on its connection's event loop: the store reads
  /// those rows (awaited, so the answer resumes the step where the connection is read), runs
  /// the body there, holding what it writes, then sends that and awaits the commit; no thread
  /// is woken for each answer. A step that reads only its session is first tried alone, as
  /// one statement with no transaction (`stepAlone`). A body that waits for anything else on
  /// the loop is refused the wait: what it held is dropped unsent, and it runs again on a
  /// thread of the store's, in the transaction begun on the loop, from the rows read there
  /// (it wrote nothing outside the transaction). A step told nothing runs on a thread.
  public func write<T: Sendable>(
    reading first: [StoreRead], _ body: @escaping @Sendable (any StoreTransaction) throws -> T
  ) async throws -> T {
    var attempt = 0
    while true {
      attempt += 1
      let lost = Lost()
      do {
        return try await client.withConnection { connection in
          let link = PostgresLink(connection, logger: self.logger, prepared: self.prepared)
          var ahead: PostgresTransaction.ReadAhead?
          if !first.isEmpty {
            // A step that reads only its session may be written by one statement alone
            // (first try only: under contention a step waits for the row's lock instead).
            let alone: Bool =
              if attempt == 1, first.count == 1, case .session = first[0] { true } else { false }
            switch try await self.onLoop(link, first, body, lost, alone: alone) {
            case .done(let value): return value
            case .needsThread(let read):
              self.stepsMoved.add(1, ordering: .relaxed)
              ahead = read
            }
          }
          return try await self.threads.runIfActive { [ahead] in
            try self.transaction(link, begun: ahead, body, lost)
          }
        }
      } catch {
        if Self.isRetryable(error), attempt < 5 { continue }
        // The whole transaction rolled back (or its end is unknown): failed verifications are
        // counted again in one of their own (SECURITY.md 26).
        let survivors = lost.withLock { $0 }
        if !survivors.isEmpty {
          let sealer = self.sealer
          try await run { link in
            try link.send("BEGIN")
            let tables = PostgresTables(link: link, sealer: sealer)
            try tables.reapply(survivors)
            try tables.flushAudit()
            try link.commit()
          }
        }
        throw Self.storeError(error)
      }
    }
  }

  /// The survivors of a step's transaction that failed (`Survivor`), to write again.
  final class Lost: Sendable {
    private let survivors = Mutex<[Survivor]>([])
    func withLock<R>(_ body: (inout [Survivor]) -> R) -> R { survivors.withLock { body(&$0) } }
  }

  /// What a step on the event loop came to.
  private enum OnLoop<T> {
    case done(T)
    /// Its body waited (or would have): its transaction goes on, on a thread, with what was
    /// read for it (nothing the body sent was sent).
    case needsThread(PostgresTransaction.ReadAhead)
  }

  /// A step's transaction on its connection's event loop: its first reads awaited, its body
  /// run there with what it sends held, then sent and committed, awaited.
  private func onLoop<T: Sendable>(
    _ link: PostgresLink, _ first: [StoreRead],
    _ body: @escaping @Sendable (any StoreTransaction) throws -> T, _ lost: Lost, alone: Bool
  ) async throws -> OnLoop<T> {
    try await withTaskExecutorPreference(link.executor) {
      var waited = false
      if alone {
        switch try await stepAlone(link, first, body, lost) {
        case .done(let value): return .done(value)
        case .waited: waited = true
        case .notAlone: break
        }
      }
      var transaction: PostgresTransaction?
      do {
        try link.send("BEGIN")
        let ahead = try await PostgresTransaction.read(first, on: link)
        // A body that waited once would again: it goes on a thread from what was read.
        if waited { return .needsThread(ahead) }
        let step = makeTransaction(link)
        transaction = step
        try step.use(ahead)
        link.hold()
        let result = Result { try body(step) }
        if link.wouldBlock {
          link.dropHeld()
          return .needsThread(ahead)
        }
        let value = try result.get()
        try step.finish()
        try await link.flushHeld()
        try await link.commitNow()
        stepsOnLoopCount.add(1, ordering: .relaxed)
        counted(step)
        return .done(value)
      } catch {
        stepsOnLoopCount.add(1, ordering: .relaxed)
        lost.withLock { $0 = transaction?.tables.survivors ?? [] }
        _ = try? await link.rollbackNow()
        throw error
      }
    }
  }

  /// What a step tried alone came to.
  private enum Alone<T> {
    case done(T)
    /// Its body waited for a row not read for it.
    case waited
    /// It wrote more than one statement (or one that needs a transaction).
    case notAlone
  }

  /// A step with no transaction around it: its session and subjects read unlocked, its body
  /// run on the loop, and what it wrote sent as one statement on its own, if it is one that
  /// may be (`SteppedAlone`, which writes the session only if its seq and its subjects'
  /// versions are still the ones read, or the audit of a refused event). Such a step writes
  /// only its own session row, which no other session's step reads: it is as if it ran when
  /// it was read. Anything else drops what it held, having sent nothing.
  private func stepAlone<T: Sendable>(
    _ link: PostgresLink, _ first: [StoreRead],
    _ body: @escaping @Sendable (any StoreTransaction) throws -> T, _ lost: Lost
  ) async throws -> Alone<T> {
    let ahead = try await PostgresTransaction.read(first, on: link, locked: false)
    let step = makeTransaction(link)
    try step.use(ahead)
    link.hold()
    let result = Result { try body(step) }
    if link.wouldBlock {
      link.dropHeld()
      return .waited
    }
    do {
      let value = try result.get()
      try step.finish()
      guard link.heldAlone else {
        link.dropHeld()
        return .notAlone
      }
      try await link.flushHeld()
      stepsAlone.add(1, ordering: .relaxed)
      return .done(value)
    } catch {
      link.dropHeld()
      lost.withLock { $0 = step.tables.survivors }
      throw error
    }
  }

  /// A step's transaction on a thread of the store's (where it may wait); `begun` when it
  /// began on the event loop, with what was read for it there.
  private func transaction<T>(
    _ link: PostgresLink, begun: PostgresTransaction.ReadAhead? = nil,
    _ body: (any StoreTransaction) throws -> T, _ lost: Lost
  ) throws -> T {
    if begun == nil { try link.send("BEGIN") }
    let transaction = makeTransaction(link)
    do {
      if let begun { try transaction.use(begun) }
      let result = try body(transaction)
      try transaction.finish()
      try link.commit()
      counted(transaction)
      return result
    } catch {
      lost.withLock { $0 = transaction.tables.survivors }
      _ = try? link.execute("ROLLBACK")
      throw error
    }
  }

  private func makeTransaction(_ link: PostgresLink) -> PostgresTransaction {
    PostgresTransaction(
      link: link, domain: domain, sessionKey: sessionKey, sealer: sealer, clock: clock)
  }

  /// Deliveries a committed step queued, for this process's dispatcher.
  private func counted(_ transaction: PostgresTransaction) {
    if transaction.tables.queuedDeliveries > 0 {
      queuedHere.add(transaction.tables.queuedDeliveries, ordering: .relaxed)
    }
  }

  /// A read: each statement on its own, with no row locked and nothing written (a session
  /// shown is one statement).
  public func read<T: Sendable>(
    transaction body: @escaping @Sendable (any StoreTransaction) throws -> T
  ) async throws -> T {
    let domain = self.domain
    let key = sessionKey
    let sealer = self.sealer
    let clock = self.clock
    return try await read { link in
      try body(
        PostgresTransaction(
          link: link, domain: domain, sessionKey: key, sealer: sealer, clock: clock,
          locking: false))
    }
  }

  // MARK: - DurableStore

  public func user(_ id: String) async throws -> User? {
    let sealer = self.sealer
    return try await read { link in try PostgresTables(link: link, sealer: sealer).user(id) }
  }

  public func users() async throws -> [User] {
    let sealer = self.sealer
    return try await read { link in
      let tables = PostgresTables(link: link, sealer: sealer)
      return try link.rows("SELECT id FROM users ORDER BY id").compactMap {
        try tables.user(try $0.text("id"))
      }
    }
  }

  public func audit(session: String?, skipping: Int) async throws -> [AuditEntry] {
    try await read { link in
      let rows =
        if let session {
          try link.rows(
            "SELECT * FROM audit WHERE session = $1 ORDER BY id OFFSET $2",
            [.text(session), .int(skipping)])
        } else {
          try link.rows("SELECT * FROM audit ORDER BY id OFFSET $1", [.int(skipping)])
        }
      return try rows.map { row in
        let kind = try row.text("kind")
        guard let parsed = AuditEntry.Kind(rawValue: kind) else {
          throw StoreIntegrityError("an audit entry has the unknown kind '\(kind)'")
        }
        return AuditEntry(
          time: try row.text("time"), kind: parsed, actor: try row.text("actor"),
          target: try row.text("target"), account: try row.text("account"),
          flow: try row.text("flow"), session: try row.text("session"),
          outcome: try row.text("outcome"), detail: try row.text("detail"))
      }
    }
  }

  public func inbox(of destination: String) async throws -> [OutboundMessage] {
    guard kind == .dryRun else {
      throw StoreError(
        "\(location) is a live store: its deliveries go to real providers, not inboxes")
    }
    return try await read { link in
      try link.rows(
        "SELECT * FROM inbox WHERE destination = $1 ORDER BY id", [.text(destination)]
      ).map { row in
        var message = OutboundMessage(
          channel: OutboundMessage.Channel(rawValue: try row.text("channel")) ?? .sms,
          destination: try row.text("destination"), body: try row.text("body"),
          sentAt: try row.int("delivered_at"), code: try row.optionalText("code"),
          key: try row.text("key"))
        message.subject = try row.optionalText("subject")
        return message
      }
    }
  }

  public func pendingDeliveries() async throws -> Int {
    try await read { link in
      try link.rows(
        """
        SELECT COUNT(*) AS n FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL
        """
      ).first?.int("n") ?? 0
    }
  }

  public func outboxLag() async throws -> Int {
    let now = clock.now()
    return try await read { link in
      let oldest = try link.rows(
        """
        SELECT MIN(created_at) AS oldest FROM outbox
        WHERE delivered_at IS NULL AND failed_at IS NULL
        """
      ).first?.optionalInt("oldest")
      return oldest.map { max(0, now - $0) } ?? 0
    }
  }

  /// Skips the claim (a statement on the database) when this process queued nothing since
  /// it last dispatched.
  @discardableResult
  public func dispatchQueuedHere() async throws -> Int {
    guard queuedHere.exchange(0, ordering: .relaxed) > 0 else { return 0 }
    return try await dispatch()
  }

  /// How long a process may hold a claimed delivery before another may take it over.
  static let claim = 60

  @discardableResult
  public func dispatch(to provider: (any DeliveryProvider)?, retry: DeliveryRetry) async throws
    -> Int
  {
    let provider = provider ?? (kind == .dryRun ? SimulatedInbox(store: self) : nil)
    guard let provider else { return 0 }
    let now = clock.now()
    // Claimed in a short transaction of its own: other processes skip these rows until the
    // claim runs out (a process that died holding one leaves it to the others after that).
    let claimed = try await read { link in
      try link.rows(
        """
        UPDATE outbox SET claimed_until = $1 WHERE key IN (
          SELECT key FROM outbox
          WHERE delivered_at IS NULL AND failed_at IS NULL
            AND (next_attempt_at IS NULL OR next_attempt_at <= $2)
            AND (claimed_until IS NULL OR claimed_until < $2)
          ORDER BY created_at, key LIMIT 100 FOR UPDATE SKIP LOCKED)
        RETURNING key, sealed, attempts, created_at
        """, [.int(now + Self.claim), .int(now)]
      ).map { row in
        (
          try row.text("key"), try row.bytes("sealed"), try row.int("attempts"),
          try row.int("created_at")
        )
      }.sorted { ($0.3, $0.0) < ($1.3, $1.0) }
    }
    var delivered = 0
    for (key, sealed, attempts, _) in claimed {
      let message = try sealer.open(sealed)
      do {
        try await provider.deliver(message)
      } catch {
        let (entry, givingUp, next) = retry.failure(
          of: message, key: key, attempt: attempts + 1, error: error, now: clock.now())
        let failedAt = clock.now()
        _ = try await read { link in
          try link.execute("BEGIN")
          try link.execute(
            """
            UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, failed_at = $2,
              claimed_until = NULL
            WHERE key = $3 AND delivered_at IS NULL
            """, [givingUp ? .null : .int(next), givingUp ? .int(failedAt) : .null, .text(key)])
          try PostgresTables.insert(entry, on: link)
          try link.execute("COMMIT")
        }
        continue
      }
      let now = clock.now()
      _ = try await read { link in
        try link.execute(
          """
          UPDATE outbox SET delivered_at = $1, sealed = NULL, attempts = attempts + 1,
            claimed_until = NULL
          WHERE key = $2 AND delivered_at IS NULL
          """, [.int(now), .text(key)])
      }
      delivered += 1
    }
    return delivered
  }

  public func moveClock(to time: Int) async throws {
    let clock = try movableClock(to: time)
    _ = try await read { link in
      try link.execute(
        """
        INSERT INTO meta (name, value) VALUES ('clock', $1)
        ON CONFLICT (name) DO UPDATE SET value = excluded.value
        """, [.bytes(Array(String(time).utf8))])
    }
    _ = clock.move(to: time)
  }

  public func queued(by step: SessionEngine.Step) async throws -> [OutboundMessage] {
    guard step.accepted else { return [] }
    let prefix = "\(step.session.id):\(step.session.seq):"
    return try await read { link in
      try link.rows(
        """
        SELECT channel, destination, key FROM outbox WHERE left(key, $1) = $2
        ORDER BY created_at, key
        """, [.int(prefix.count), .text(prefix)]
      ).map { row in
        OutboundMessage(
          channel: OutboundMessage.Channel(rawValue: try row.text("channel")) ?? .sms,
          destination: try row.text("destination"), body: "", sentAt: 0, code: nil,
          key: try row.text("key"))
      }
    }
  }

  /// Runs a read-only SQL query (tools and tests); each value as text.
  public func query(_ sql: String) async throws -> [[String]] {
    try await read { link in
      try link.rows(sql).map { row in
        row.map { cell in
          guard var bytes = cell.bytes else { return "NULL" }
          return (try? cell.decode(String.self))
            ?? (try? cell.decode(Int.self)).map(String.init)
            ?? (try? cell.decode(Bool.self)).map(String.init)
            ?? String(decoding: bytes.readBytes(length: bytes.readableBytes) ?? [], as: UTF8.self)
        }
      }
    }
  }

  /// Runs SQL that changes the database (tests that tamper with rows on purpose).
  public func execute(_ sql: String) async throws {
    _ = try await read { link in try link.execute(sql) }
  }

  /// The simulated inbox of a dry-run store: it keeps the first copy of each key and logs
  /// every attempt (with a digest of what was sent: two contents under one key show).
  struct SimulatedInbox: DeliveryProvider {
    let store: PostgresStore

    func deliver(_ message: OutboundMessage) async throws {
      let now = store.clock.now()
      let digest = message.contentDigest
      _ = try await store.read { link in
        try link.execute("BEGIN")
        try link.execute(
          "INSERT INTO delivery_attempts (key, digest, at) VALUES ($1, $2, $3)",
          [.text(message.key), .text(digest), .int(now)])
        try link.execute(
          """
          INSERT INTO inbox (key, channel, destination, subject, body, code, delivered_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING
          """,
          [
            .text(message.key), .text(message.channel.rawValue), .text(message.destination),
            .optional(message.subject), .text(message.body), .optional(message.code), .int(now),
          ])
        try link.execute("COMMIT")
      }
    }
  }
}

/// What a store keeps of its key: enough to tell a wrong key, nothing to sign with (the same
/// check as the SQLite store's).
enum SQLiteCompatibleKeyCheck {
  static func value(_ key: SessionKey) -> String {
    key.tag(Array("flowengine store key check".utf8))
  }
}
