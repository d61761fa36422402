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
  case null

  static func optional(_ value: Int?) -> SQLValue { value.map { .int($0) } ?? .null }
  static func optional(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }
}

/// One leased connection, used from one thread that may block: a step's transaction runs the
/// engine's synchronous code, so each query waits for its answer here. It is never used on an
/// event loop or in the cooperative pool (the store runs the step on a thread pool of its own).
final class PostgresLink: @unchecked Sendable {
  let connection: PostgresConnection
  let logger: Logger

  init(_ connection: PostgresConnection, logger: Logger) {
    self.connection = connection
    self.logger = logger
  }

  /// The rows of a query, decoded into random-access rows.
  func rows(_ sql: String, _ values: [SQLValue] = []) throws -> [PostgresRandomAccessRow] {
    let query = Self.query(sql, values)
    let connection = self.connection
    let logger = self.logger
    do {
      return try Self.blocking(within: .seconds(20)) {
        var rows: [PostgresRandomAccessRow] = []
        for try await row in try await connection.query(query, logger: logger) {
          rows.append(PostgresRandomAccessRow(row))
        }
        return rows
      }
    } catch let error as NoAnswer {
      // The server ends any statement after 10 s (statement_timeout): a query with no answer
      // after 20 s is on a connection that is gone. It is closed, so the pool drops it.
      Task { try? await connection.close() }
      throw PostgresStoreError("\(error)")
    }
  }

  /// A query that had no answer in time.
  struct NoAnswer: Error, CustomStringConvertible {
    var description: String { "the database did not answer in time; the connection is closed" }
  }

  /// Runs a statement; how many rows it returned (use `RETURNING 1` to count changed rows).
  @discardableResult
  func execute(_ sql: String, _ values: [SQLValue] = []) throws -> Int {
    try rows(sql, values).count
  }

  static func query(_ sql: String, _ values: [SQLValue]) -> PostgresQuery {
    var bindings = PostgresBindings(capacity: values.count)
    for value in values {
      switch value {
      case .text(let text): bindings.append(text)
      case .int(let number): bindings.append(number)
      case .bytes(let bytes): bindings.append(ByteBuffer(bytes: bytes))
      case .bool(let flag): bindings.append(flag)
      case .null: bindings.appendNull()
      }
    }
    return PostgresQuery(unsafeSQL: sql, binds: bindings)
  }

  /// Waits, on this thread, for an async operation (never call it from the cooperative pool).
  static func blocking<T: Sendable>(
    within limit: DispatchTimeInterval, _ operation: @escaping @Sendable () async throws -> T
  ) throws -> T {
    let outcome = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
      let result: Result<T, any Error>
      do {
        result = .success(try await operation())
      } catch {
        result = .failure(error)
      }
      outcome.withLock { $0 = result }
      done.signal()
    }
    if done.wait(timeout: .now() + limit) == .timedOut { throw NoAnswer() }
    guard let result = outcome.withLock({ $0 }) else {
      throw PostgresStoreError("a query ended with no answer")
    }
    return try result.get()
  }
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
  init(_ description: String) { self.description = description }
}
