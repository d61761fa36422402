import AccountSecurity
import FlowEngine
import Foundation
import PostgresStore
import SQLiteStore
import Testing

/// The package root, seen from Tests/StoreTests/ThisFile.swift.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent()

func text(_ path: String) throws -> String {
  try String(contentsOf: packageRoot.appendingPathComponent(path), encoding: .utf8)
}

let ownFlow = "flows/update-own-2fa-phone.yaml"
let teamFlow = "flows/update-team-member-2fa-phone.yaml"

/// Every store the engine runs on; the suites below run against each.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
  case memory
  case sqlite
  case postgres

  var testDescription: String { rawValue }
}

/// A PostgreSQL server for the tests: FLOWENGINE_TEST_POSTGRES (a URL of a database the tests
/// may create databases beside), else a throwaway cluster this process starts with
/// scripts/pg-cluster.sh (Debian's `postgresql` package) and stops when it exits. Each
/// fixture gets a database of its own.
enum TestPostgres {
  static let server: Result<String, any Error> = {
    if let url = ProcessInfo.processInfo.environment["FLOWENGINE_TEST_POSTGRES"], !url.isEmpty {
      return .success(url)
    }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flowengine-pg-\(UUID().uuidString)"
    ).path
    do {
      let url = try shell(
        packageRoot.appendingPathComponent("scripts/pg-cluster.sh").path, ["start", folder])
      clusterFolder = folder
      atexit {
        if let folder = clusterFolder {
          _ = try? shell(
            packageRoot.appendingPathComponent("scripts/pg-cluster.sh").path, ["stop", folder])
          _ = try? shell("/bin/rm", ["-rf", folder])
        }
      }
      return .success(url)
    } catch {
      return .failure(error)
    }
  }()

  nonisolated(unsafe) static var clusterFolder: String?

  /// A new, empty database on the test server.
  static func database() throws -> String {
    let url = try server.get()
    let name = "t" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    _ = try shell("/usr/bin/psql", [url, "-q", "-c", "CREATE DATABASE \(name)"])
    guard let slash = url.lastIndex(of: "/") else { throw StoreError("bad URL \(url)") }
    return String(url[...slash]) + name
  }

  struct ShellError: Error, CustomStringConvertible {
    var description: String
  }

  /// Runs a program; its standard output, trimmed. Fails with its standard error. The output
  /// goes through files, not pipes: a server the program starts keeps a pipe open forever.
  static func shell(_ executable: String, _ arguments: [String]) throws -> String {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent(
      "shell-\(UUID().uuidString)")
    let outURL = base.appendingPathExtension("out")
    let errURL = base.appendingPathExtension("err")
    defer {
      try? FileManager.default.removeItem(at: outURL)
      try? FileManager.default.removeItem(at: errURL)
    }
    // system(3), not Foundation's Process: its waitUntilExit can miss the end of a script
    // that leaves a daemon behind (pg_ctl start), and wait forever.
    let quoted = ([executable] + arguments).map {
      "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
    let status = system(
      quoted.joined(separator: " ") + " < /dev/null > '\(outURL.path)' 2> '\(errURL.path)'")
    let output = (try? Data(contentsOf: outURL)) ?? Data()
    let errors = (try? Data(contentsOf: errURL)) ?? Data()
    guard status == 0 else {
      throw ShellError(
        description:
          "\(executable) \(arguments.joined(separator: " ")) exited \(status): \(String(decoding: errors, as: UTF8.self))"
      )
    }
    return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
  }
}

/// An engine on a fresh store of one kind, holding the team of examples/team.yaml, with a
/// manual clock.
struct StoreFixture: Sendable {
  let kind: StoreKind
  let clock: ManualClock
  let engine: SessionEngine
  let memory: InMemoryStore?
  let sqlite: SQLiteStore?
  let postgres: PostgresStore?

  /// The durable store (SQLite or PostgreSQL), nil for the in-memory one.
  var durable: (any DurableStore)? { sqlite ?? postgres }

  init(_ kind: StoreKind, synchronous: SQLiteStore.Synchronous = .full) async throws {
    let world = try #require(
      WorldFile.load(path: packageRoot.appendingPathComponent("examples/team.yaml").path).state)
    self.kind = kind
    let clock = ManualClock()
    self.clock = clock
    switch kind {
    case .memory:
      let store = InMemoryStore(
        services: InMemoryAccountSecurity(state: world, clock: clock))
      memory = store
      sqlite = nil
      postgres = nil
      engine = SessionEngine(store: store, catalog: AccountSecurityCatalog.catalog, clock: clock)
    case .sqlite:
      let path = FileManager.default.temporaryDirectory.appendingPathComponent(
        "store-\(UUID().uuidString).sqlite"
      ).path
      let store = try SQLiteStore.create(
        path: path, world: world, synchronous: synchronous, clock: clock)
      memory = nil
      sqlite = store
      postgres = nil
      engine = SessionEngine(store: store, catalog: AccountSecurityCatalog.catalog, clock: clock)
    case .postgres:
      let store = try await PostgresStore.create(
        url: try TestPostgres.database(), world: world, clock: clock)
      memory = nil
      sqlite = nil
      postgres = store
      engine = SessionEngine(store: store, catalog: AccountSecurityCatalog.catalog, clock: clock)
    }
  }

  func start(_ flow: String, actor: String, target: String? = nil) async throws
    -> SessionEngine.Step
  {
    try await start(text: text(flow), actor: actor, target: target)
  }

  func start(text: String, actor: String, target: String? = nil) async throws
    -> SessionEngine.Step
  {
    try await engine.start(
      flow: Array(text.utf8), subjects: ["actor": actor, "target": target ?? actor])
  }

  @discardableResult
  func send(
    _ id: String, _ event: String, _ payload: [String: Value] = [:], seq: Int? = nil
  ) async throws -> SessionEngine.Step {
    let step = try await engine.send(
      session: id, event: event, payload: payload, expectedSeq: seq)
    try await durable?.dispatch()
    return step
  }

  /// The last code delivered to a number, as a person reads it off the phone.
  func lastCode(to destination: String) async throws -> String? {
    if let memory {
      return memory.services.snapshot.inbox(of: destination).last { $0.code != nil }?.code
    }
    let store = try #require(durable)
    try await store.dispatch()
    return try await store.inbox(of: destination).last { $0.code != nil }?.code
  }

  func user(_ id: String) async throws -> User {
    if let memory { return try #require(memory.services.snapshot.users[id]) }
    return try #require(try await durable?.user(id))
  }

  func audit(_ session: String? = nil) async throws -> [AuditEntry] {
    if let memory {
      return memory.services.snapshot.audit.filter { session == nil || $0.session == session }
    }
    return try await #require(durable).audit(session: session)
  }

  /// The stored row of a session.
  func row(_ id: String) async throws -> StoredSession {
    try await engine.show(session: id).0
  }
}
