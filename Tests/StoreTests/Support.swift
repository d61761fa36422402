import AccountSecurity
import FlowEngine
import Foundation
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

  var testDescription: String { rawValue }
}

/// An engine on a fresh store of one kind, holding the team of examples/team.yaml, with a
/// manual clock.
struct StoreFixture: Sendable {
  let kind: StoreKind
  let clock: ManualClock
  let engine: SessionEngine
  let memory: InMemoryStore?
  let sqlite: SQLiteStore?

  init(_ kind: StoreKind, synchronous: SQLiteStore.Synchronous = .full) throws {
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
      engine = SessionEngine(store: store, catalog: AccountSecurityCatalog.catalog, clock: clock)
    case .sqlite:
      let path = FileManager.default.temporaryDirectory.appendingPathComponent(
        "store-\(UUID().uuidString).sqlite"
      ).path
      let store = try SQLiteStore.create(
        path: path, world: world, synchronous: synchronous, clock: clock)
      memory = nil
      sqlite = store
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
    try await sqlite?.dispatch()
    return step
  }

  /// The last code delivered to a number, as a person reads it off the phone.
  func lastCode(to destination: String) async throws -> String? {
    if let memory {
      return memory.services.snapshot.inbox(of: destination).last { $0.code != nil }?.code
    }
    try await sqlite!.dispatch()
    return try await sqlite!.inbox(of: destination).last { $0.code != nil }?.code
  }

  func user(_ id: String) async throws -> User {
    if let memory { return try #require(memory.services.snapshot.users[id]) }
    return try #require(try await sqlite!.user(id))
  }

  func audit(_ session: String? = nil) async throws -> [AuditEntry] {
    if let memory {
      return memory.services.snapshot.audit.filter { session == nil || $0.session == session }
    }
    return try await sqlite!.audit(session: session)
  }

  /// The stored row of a session.
  func row(_ id: String) async throws -> StoredSession {
    try await engine.show(session: id).0
  }
}
