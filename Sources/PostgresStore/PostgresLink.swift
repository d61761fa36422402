internal import Foundation
internal import Logging
internal import NIOCore
internal import PostgresNIO
internal import Synchronization

/// A value bound to a `$n` placeholder.
enum SQLValue: Sendable {
  case text(String)
  case int(Int)
  case bytes([UInt8])
  case bool(Bool)
  case texts([String])
  case ints([Int])
  case null

  static func optional(_ value: Int?) -> SQLValue { value.map { .int($0) } ?? .null }
  static func optional(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }
}

/// One leased connection, used from one thread that may block: a step's transaction runs the
/// engine's synchronous code, so each query waits for its answer here, on a thread of the
/// store's own pool (never in the cooperative pool).
///
/// A step whose first reads the store made for it (`rowsNow`, awaited) runs on the
/// connection's event loop instead, with no thread of its own: there what it sends is held
/// until its body has run, and a wait is refused (`wouldBlock` is set; the store drops what
/// was held and the transaction goes on on a thread).
///
/// Statements whose answer the step does not read (`BEGIN`, a savepoint, an audit row) are
/// sent without waiting (`send`): the connection runs them in order before the next one, and
/// the first that failed fails the next wait. So a step's thread wakes once per answer it
/// needs, not once per statement.
final class PostgresLink: @unchecked Sendable {
  let connection: PostgresConnection
  let logger: Logger
  /// The first failure of a statement sent without waiting (set on the connection's event
  /// loop, read after a wait: the loop answers statements in the order they were sent).
  private let unread = FirstFailure()
  /// The statements sent without waiting whose outcome is not known yet: a wait waits for
  /// them too (their answers came before its own, but a prepared statement's task may still
  /// be about to record its failure).
  private let pending = DispatchGroup()
  /// Called before a statement that changes rows is sent (a transaction opens its savepoint
  /// there, or refuses the write in a read).
  var beforeWrite: (() throws -> Void)?

  /// The statements each connection of the store has prepared.
  let prepared: PreparedStatements
  /// Whether a wait was asked for on the connection's event loop (and refused: what the
  /// body sent there is dropped, and the body runs again on a thread).
  private(set) var wouldBlock = false

  init(_ connection: PostgresConnection, logger: Logger, prepared: PreparedStatements) {
    self.connection = connection
    self.logger = logger
    self.prepared = prepared
  }

  /// The rows of a query, decoded into random-access rows (after every statement sent before
  /// it; the first of those that failed is thrown instead).
  func rows(_ sql: String, _ values: [SQLValue] = []) throws -> [PostgresRandomAccessRow] {
    try checkWrite(sql)
    let query = Self.query(sql, values)
    return try wait { answer in start(query) { answer($0.map(\.rows)) } }
  }

  /// The rows of a statement the connection prepares once and runs by name after (the
  /// server parses and plans it once per connection, not once per step).
  func rows<Statement: PreparedSQL>(_ statement: Statement.Type, _ values: [SQLValue])
    throws -> [PostgresRandomAccessRow]
  {
    try checkWrite(Statement.sql)
    let rows = try wait { answer in start(statement, values, answer) }
    // Prepared for certain: from now on it runs in the order it is sent.
    prepared.insert(Statement.name, on: connection)
    return rows
  }

  /// Writes a query on the connection's event loop (in the order statements are started);
  /// `done` is called there with its result.
  private func start(
    _ query: PostgresQuery,
    _ done: @escaping @Sendable (Result<PostgresQueryResult, any Error>) -> Void
  ) {
    let connection = self.connection
    let logger = self.logger
    guard connection.eventLoop.inEventLoop else {
      connection.eventLoop.execute { connection.query(query, logger: logger).whenComplete(done) }
      return
    }
    connection.query(query, logger: logger).whenComplete(done)
  }

  /// Runs a prepared statement in a task on the connection's event loop: it is written and
  /// its rows read there, with no hop through the cooperative pool. `done` gets the rows.
  private func start<Statement: PreparedSQL>(
    _ statement: Statement.Type, _ values: [SQLValue],
    _ done: @escaping @Sendable (Result<[PostgresRow], any Error>) -> Void
  ) {
    let bound = Prepared<Statement>(bindings: Self.query("", values).binds)
    let connection = self.connection
    let logger = self.logger
    Task(executorPreference: executor) {
      do {
        done(.success(try await Self.rows(of: bound, on: connection, logger: logger)))
      } catch {
        done(.failure(error))
      }
    }
  }

  /// A prepared statement's rows, all read.
  private static func rows<Statement: PreparedSQL>(
    of bound: Prepared<Statement>, on connection: PostgresConnection, logger: Logger
  ) async throws -> [PostgresRow] {
    var rows: [PostgresRow] = []
    for try await row in try await connection.execute(bound, logger: logger) {
      rows.append(row)
    }
    return rows
  }

  /// The runner of tasks on this connection's event loop.
  private(set) lazy var executor = EventLoopTaskExecutor(connection.eventLoop)

  /// Starts a query and waits for its rows (`start` calls its argument once, from any
  /// thread). The server ends any statement after 10 s (statement_timeout): a query with no
  /// answer after 20 s is on a connection that is gone. It is closed, so the pool drops it.
  private func wait(
    _ start: (@escaping @Sendable (Result<[PostgresRow], any Error>) -> Void) -> Void
  ) throws -> [PostgresRandomAccessRow] {
    try waitFor(start).map { PostgresRandomAccessRow($0) }
  }

  /// `wait`, for any answer.
  private func waitFor<T: Sendable>(
    _ start: (@escaping @Sendable (Result<T, any Error>) -> Void) -> Void
  ) throws -> T {
    guard !connection.eventLoop.inEventLoop else {
      wouldBlock = true
      throw PostgresStoreError("a step on the event loop waited for the database")
    }
    let outcome = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    start { result in
      outcome.withLock { $0 = result }
      done.signal()
    }
    if done.wait(timeout: .now() + .seconds(20)) == .timedOut {
      let closing: EventLoopFuture<Void> = connection.close()
      _ = closing
      throw PostgresStoreError(Self.noAnswer)
    }
    if pending.wait(timeout: .now() + .seconds(20)) == .timedOut {
      throw PostgresStoreError("a statement sent earlier did not end in time")
    }
    if let failure = unread.value.withLock({ $0 }) { throw failure }
    guard let result = outcome.withLock({ $0 }) else {
      throw PostgresStoreError("a query ended with no answer")
    }
    return try result.get()
  }

  // MARK: - On the connection's event loop

  /// Statements a step on the event loop sent, held until its body has run (`flushHeld`): a
  /// body that waits there is run again on a thread, and what it sent is dropped unsent, so
  /// its transaction goes on as it was before the body (what the store read for it is
  /// still read, and locked).
  private var held: [(alone: Bool, run: () async throws -> Void)]?

  /// From now on statements sent are held, not sent.
  func hold() { held = [] }

  /// Whether statements sent are held (`hold`).
  var holding: Bool { held != nil }

  /// Whether what is held is one statement that may be sent on its own, outside a
  /// transaction (or nothing).
  var heldAlone: Bool { (held ?? []).count <= 1 && (held ?? []).allSatisfy(\.alone) }

  /// Holds a statement whose answer must pass `check`, or `failure` is thrown when it is sent
  /// (`flushHeld`); `alone`: it may be sent on its own, outside a transaction. Only while
  /// holding.
  func send<Statement: PreparedSQL>(
    _ statement: Statement.Type, _ values: [SQLValue], alone: Bool = false,
    expecting check: @escaping ([PostgresRandomAccessRow]) throws -> Bool,
    else failure: any Error
  ) throws {
    precondition(held != nil, "a checked statement is held, then sent")
    try checkWrite(Statement.sql)
    held?.append(
      (
        alone,
        { [unowned self] in
          guard try check(try await self.run(statement, values)) else { throw failure }
        }
      ))
  }

  /// Drops what was held, and waits are allowed again (the transaction goes on, on a thread).
  func dropHeld() {
    held = nil
    wouldBlock = false
  }

  /// Sends what was held, in order, each awaited (the connection runs one statement at a
  /// time anyway); the first failure is thrown.
  func flushHeld() async throws {
    let statements = held ?? []
    held = nil
    for statement in statements { try await statement.run() }
  }

  /// `rows`, awaited in a task that runs on the connection's event loop: the statement is
  /// written there at once (after any sent before it), and its answer resumes the task
  /// there, with no thread woken.
  func rowsNow<Statement: PreparedSQL>(_ statement: Statement.Type, _ values: [SQLValue])
    async throws -> [PostgresRandomAccessRow]
  {
    try checkWrite(Statement.sql)
    return try await run(statement, values)
  }

  private func run<Statement: PreparedSQL>(_ statement: Statement.Type, _ values: [SQLValue])
    async throws -> [PostgresRandomAccessRow]
  {
    let bound = Prepared<Statement>(bindings: Self.query("", values).binds)
    let connection = self.connection
    let logger = self.logger
    let rows = try await bounded { try await Self.rows(of: bound, on: connection, logger: logger) }
    prepared.insert(Statement.name, on: connection)
    return rows.map { PostgresRandomAccessRow($0) }
  }

  /// An unnamed statement, awaited (as `rowsNow`); its command tag.
  private func run(_ query: PostgresQuery) async throws -> String {
    let connection = self.connection
    let logger = self.logger
    return try await bounded {
      try await connection.query(query, logger: logger).get().metadata.command
    }
  }

  /// `commit`, awaited.
  func commitNow() async throws {
    let tag = try await run(PostgresQuery(unsafeSQL: "COMMIT"))
    guard tag == "COMMIT" else {
      throw PostgresStoreError("the transaction was rolled back (the server answered \(tag))")
    }
  }

  /// Rolls the transaction back, awaited.
  func rollbackNow() async throws {
    _ = try await run(PostgresQuery(unsafeSQL: "ROLLBACK"))
  }

  /// Awaits an answer as a wait does: after the statements sent before it, the first of
  /// which that failed is thrown instead; and for 20 s at most. An answer that does not come
  /// (a connection gone in a way its driver does not notice) is not waited for: the
  /// connection is closed, so the pool drops it, and the step fails.
  private func bounded<T: Sendable>(_ answer: @escaping @Sendable () async throws -> T)
    async throws -> T
  {
    guard !gone else {
      throw PostgresStoreError(Self.noAnswer)
    }
    let connection = self.connection
    let executor = self.executor
    let result = await withCheckedContinuation {
      (continuation: CheckedContinuation<Result<T, any Error>, Never>) in
      let once = ResumeOnce(continuation)
      let late = connection.eventLoop.scheduleTask(in: .seconds(20)) {
        once.resume(
          .failure(
            PostgresStoreError(Self.noAnswer, gone: true)))
        let closing: EventLoopFuture<Void> = connection.close()
        _ = closing
      }
      Task(executorPreference: executor) {
        let result: Result<T, any Error>
        do {
          result = .success(try await answer())
        } catch {
          result = .failure(error)
        }
        late.cancel()
        once.resume(result)
      }
    }
    if case .failure(let error as PostgresStoreError) = result, error.gone { gone = true }
    if let failure = unread.value.withLock({ $0 }) { throw failure }
    return try result.get()
  }

  /// Whether an answer did not come in time (the connection is closed: nothing more is
  /// awaited on it).
  private var gone = false

  /// Why a wait ended with no answer (after 20 s).
  static let noAnswer = "the database did not answer in time; the connection is closed"

  // MARK: - Sent

  /// Sends a statement without waiting for its answer (its failure is thrown by the next
  /// wait: `rows`, `execute` or `commit`).
  func send(_ sql: String, _ values: [SQLValue] = []) throws {
    try checkWrite(sql)
    let query = Self.query(sql, values)
    if held != nil {
      held?.append((false, { [unowned self] in _ = try await self.run(query) }))
      return
    }
    start(query, unanswered())
  }

  /// Sends a prepared statement without waiting for its answer (its rows are dropped; its
  /// failure is thrown by the next wait).
  ///
  /// A statement's first run on a connection waits, until it has run once: postgres-nio
  /// prepares it first and runs it when the server has answered that, so what was sent after
  /// it would run before it; and a statement that failed to prepare fails in the client, where
  /// the server would not know to roll the transaction back.
  func send<Statement: PreparedSQL>(
    _ statement: Statement.Type, _ values: [SQLValue], alone: Bool = false
  ) throws {
    if held != nil {
      try checkWrite(Statement.sql)
      held?.append((alone, { [unowned self] in _ = try await self.run(statement, values) }))
      return
    }
    guard prepared.contains(Statement.name, on: connection.id) else {
      _ = try rows(statement, values)
      return
    }
    try checkWrite(Statement.sql)
    start(statement, values, unanswered())
  }

  /// The completion of a statement nobody waits for: counted as pending until it ends, its
  /// failure kept for the next wait.
  private func unanswered<T>() -> @Sendable (Result<T, any Error>) -> Void {
    let unread = self.unread
    let pending = self.pending
    pending.enter()
    return { result in
      if case .failure(let error) = result { unread.record(error) }
      pending.leave()
    }
  }

  /// Commits the transaction, after every statement sent before: a transaction that one of
  /// them failed is rolled back by the server, and that failure is thrown here.
  func commit() throws {
    let tag = try waitFor { answer in
      start(PostgresQuery(unsafeSQL: "COMMIT")) { answer($0.map(\.metadata.command)) }
    }
    guard tag == "COMMIT" else {
      throw PostgresStoreError("the transaction was rolled back (the server answered \(tag))")
    }
  }

  /// Runs a statement; how many rows it returned (use `RETURNING 1` to count changed rows).
  @discardableResult
  func execute(_ sql: String, _ values: [SQLValue] = []) throws -> Int {
    try rows(sql, values).count
  }

  /// Runs a prepared statement; how many rows it returned.
  @discardableResult
  func execute<Statement: PreparedSQL>(_ statement: Statement.Type, _ values: [SQLValue])
    throws -> Int
  {
    try rows(statement, values).count
  }

  private func checkWrite(_ sql: String) throws {
    guard let beforeWrite, Self.writes(sql) else { return }
    try beforeWrite()
  }

  /// Whether a statement changes rows (what a savepoint must be able to undo).
  static func writes(_ sql: String) -> Bool {
    let head = sql.prefix(while: { !$0.isWhitespace }).uppercased()
    return head == "INSERT" || head == "UPDATE" || head == "DELETE" || head == "WITH"
  }

  static func query(_ sql: String, _ values: [SQLValue]) -> PostgresQuery {
    var bindings = PostgresBindings(capacity: values.count)
    for value in values {
      switch value {
      case .text(let text): bindings.append(text)
      case .int(let number): bindings.append(number)
      case .bytes(let bytes): bindings.append(ByteBuffer(bytes: bytes))
      case .bool(let flag): bindings.append(flag)
      case .texts(let texts): bindings.append(texts)
      case .ints(let numbers): bindings.append(numbers)
      case .null: bindings.appendNull()
      }
    }
    return PostgresQuery(unsafeSQL: sql, binds: bindings)
  }
}

/// A statement that is prepared once per connection: a caseless type naming its SQL.
protocol PreparedSQL: SendableMetatype {
  /// The statement's name on the connection (unique among them).
  static var name: String { get }
  static var sql: String { get }
}

/// postgres-nio's prepared statement for a `PreparedSQL` (named after it), with its values.
struct Prepared<Statement: PreparedSQL>: PostgresPreparedStatement {
  static var name: String { Statement.name }
  static var sql: String { Statement.sql }
  let bindings: PostgresBindings
  func makeBindings() -> PostgresBindings { bindings }
  func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

/// Runs tasks on one event loop (a prepared statement's task runs where its connection
/// does).
final class EventLoopTaskExecutor: TaskExecutor {
  let loop: any EventLoop

  init(_ loop: any EventLoop) { self.loop = loop }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
  }
}

/// The statements each connection has prepared (by the connection's id, unique in the pool;
/// a connection's entry goes when it closes).
final class PreparedStatements: Sendable {
  private let names = Mutex<[PostgresConnection.ID: Set<String>]>([:])

  func contains(_ name: String, on connection: PostgresConnection.ID) -> Bool {
    names.withLock { $0[connection]?.contains(name) ?? false }
  }

  func insert(_ name: String, on connection: PostgresConnection) {
    let id = connection.id
    let first = names.withLock { names -> Bool in
      let first = names[id] == nil
      names[id, default: []].insert(name)
      return first
    }
    if first {
      connection.closeFuture.whenComplete { [self] _ in
        _ = names.withLock { $0.removeValue(forKey: id) }
      }
    }
  }

  /// How many connections have an entry.
  var connections: Int { names.withLock { $0.count } }
}

/// A continuation resumed by the first of two racing ends (an answer and a deadline).
final class ResumeOnce<T: Sendable>: Sendable {
  private let continuation: Mutex<CheckedContinuation<T, Never>?>

  init(_ continuation: CheckedContinuation<T, Never>) {
    self.continuation = Mutex(continuation)
  }

  func resume(_ value: T) {
    continuation.withLock { $0.take() }?.resume(returning: value)
  }
}

/// The first failure among statements whose answers nobody waited for.
final class FirstFailure: Sendable {
  let value = Mutex<(any Error)?>(nil)

  func record(_ error: any Error) { value.withLock { if $0 == nil { $0 = error } } }
}

/// Reading columns by name, with the type the column holds.
extension PostgresRandomAccessRow {
  func text(_ column: String) throws -> String { try self[column].decode(String.self) }
  func optionalText(_ column: String) throws -> String? {
    try self[column].decode(String?.self)
  }
  func int(_ column: String) throws -> Int { try self[column].decode(Int.self) }
  func optionalInt(_ column: String) throws -> Int? { try self[column].decode(Int?.self) }
  func bool(_ column: String) throws -> Bool { try self[column].decode(Bool.self) }
  func bytes(_ column: String) throws -> [UInt8] {
    var buffer = try self[column].decode(ByteBuffer.self)
    return buffer.readBytes(length: buffer.readableBytes) ?? []
  }
  func optionalBytes(_ column: String) throws -> [UInt8]? {
    guard var buffer = try self[column].decode(ByteBuffer?.self) else { return nil }
    return buffer.readBytes(length: buffer.readableBytes) ?? []
  }
}

/// A failure of the PostgreSQL store that is not the database's own.
struct PostgresStoreError: Error, CustomStringConvertible {
  var description: String
  /// Whether the transaction may simply be run again (as after a serialization failure).
  var retryable: Bool
  /// Whether the connection gave no answer in time (and was closed).
  var gone: Bool
  init(_ description: String, retryable: Bool = false, gone: Bool = false) {
    self.description = description
    self.retryable = retryable
    self.gone = gone
  }
}
