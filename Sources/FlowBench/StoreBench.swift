import AccountSecurity
import FlowEngine
import Foundation
import GRDB
import Logging
import SQLiteStore
import Synchronization

/// `flow-bench store`: the durable engine against references measured in the same process.
///
/// - durable own-number steps/s on SQLite at synchronous FULL and NORMAL, beside single-row
///   `UPDATE` transactions through the same GRDB pool at the same setting (the ratio is what
///   the engine costs over the database's own commit);
/// - in-memory cost per 2FA step after 1k and after 100k recorded steps (flat means a step
///   does not grow with history);
/// - the 3-state cycle through the full engine, beside a hand-written `switch`;
/// - bytes per suspended session on disk.
enum StoreBench {
  /// Steps log nothing here: the figures are the engine's, not the terminal's.
  static let quiet = Logger(label: "flow-bench") { _ in SwiftLogNoOpLogHandler() }

  static let ownFlow = flow("flows/update-own-2fa-phone.yaml")

  /// A flow of the package, compiled (the benchmarks' flows are known to compile).
  static func flow(_ path: String) -> CompiledFlow {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
    let document = FlowDocument.load(
      path: root.appendingPathComponent(path).path, catalog: AccountSecurityCatalog.catalog)
    return document.compiled()!
  }

  static let cycleFlow = """
    flow: cycle
    version: 1
    title: Three states in a ring
    context:
      actor: user
      target: user
    events:
      next: {}
    start: a
    states:
      a: { on: { next: b } }
      b: { on: { next: c } }
      c: { on: { next: a } }

    """

  /// A step the benchmark expected to be accepted was not: its figures would be meaningless.
  struct Rejected: Error, CustomStringConvertible {
    var event: String
    var trace: StepTrace
    var description: String { "\(event) rejected: \(trace.rejection.map { "\($0)" } ?? "?")" }
  }

  /// A world with one admin with 2FA on.
  static func world() throws -> AccountSecurityState {
    var state = AccountSecurityState()
    state.add(Account(id: "acme", name: "Acme"))
    state.add(
      User(
        id: "ada", name: "Ada", role: .admin, account: "acme",
        phone: try PhoneNumber(parsing: "+15550100001"), email: "ada@example.test",
        twoFactor: TwoFactorSettings(enabled: true)))
    return state
  }

  /// Codes from a seed, remembering the last one (the benchmark types it back).
  final class RecordingCodes: CodeGenerator {
    private let base = SeededCodeGenerator(seed: 9)
    private let last = Mutex("")
    func makeCode() -> String {
      let code = base.makeCode()
      last.withLock { $0 = code }
      return code
    }
    func makeSalt() -> [UInt8] { base.makeSalt() }
    var lastCode: String { last.withLock { $0 } }
  }

  /// One own-number procedure: 1 start and 6 events, each past the resend cooldown.
  static func procedure(
    _ index: Int, clock: ManualClock, codes: RecordingCodes,
    start: () throws -> String, send: (String, String, [String: Value]) throws -> Void
  ) throws {
    let id = try start()
    let number = "+1555" + String(format: "%07d", 1_000_000 + index)
    clock.advance(by: 31)
    try send(id, "disable2FA", [:])
    try send(id, "submitCode", ["code": .string(codes.lastCode)])
    try send(id, "editPhone", ["phone": .string(number)])
    try send(id, "save", [:])
    clock.advance(by: 31)
    try send(id, "enable2FA", [:])
    try send(id, "submitCode", ["code": .string(codes.lastCode)])
  }

  /// An engine on a new in-memory store of `world()`.
  static func inMemoryEngine(codes: any CodeGenerator = SecureCodeGenerator()) throws -> (
    SessionEngine, ManualClock
  ) {
    let clock = ManualClock()
    let services = InMemoryAccountSecurity(state: try world(), clock: clock, codes: codes)
    let engine = SessionEngine(
      store: InMemoryStore(services: services), catalog: AccountSecurityCatalog.catalog,
      clock: clock, logger: quiet)
    return (engine, clock)
  }

  /// Only the 3-state cycle, for profilers (`flow-bench store-cycle N`).
  static func cycle(_ steps: Int) throws {
    let (engine, _) = try inMemoryEngine()
    let flow = try engine.flow(Array(cycleFlow.utf8))
    let id = try engine.startNow(flow: flow, subjects: ["actor": "ada", "target": "ada"]).session.id
    for _ in 0..<steps { _ = try engine.sendNow(session: id, event: "next", payload: [:]) }
  }

  /// Only in-memory own-number procedures, for profilers (`flow-bench store-own N`).
  static func own(_ count: Int) throws {
    let codes = RecordingCodes()
    let (engine, clock) = try inMemoryEngine(codes: codes)
    for index in 0..<count {
      try procedure(
        index, clock: clock, codes: codes,
        start: {
          try engine.startNow(flow: ownFlow, subjects: ["actor": "ada", "target": "ada"]).session.id
        },
        send: { id, event, payload in
          _ = try engine.sendNow(session: id, event: event, payload: payload)
        })
    }
  }

  /// Own-number procedures on a new SQLite store; returns it and the steps taken.
  static func durableSteps(_ procedures: Int, synchronous: SQLiteStore.Synchronous, in folder: URL)
    async throws -> (store: SQLiteStore, steps: Int, seconds: Double)
  {
    let clock = ManualClock()
    let codes = RecordingCodes()
    let store = try SQLiteStore.create(
      path: folder.appendingPathComponent("steps-\(synchronous.rawValue).sqlite").path,
      world: try world(), force: true, synchronous: synchronous,
      codes: codes, clock: clock)
    let engine = SessionEngine(
      store: store, catalog: AccountSecurityCatalog.catalog, clock: clock, logger: quiet)
    let bytes = ownFlow.sourceBytes
    var steps = 0
    let began = ContinuousClock.now
    for index in 0..<procedures {
      let id = try await engine.start(flow: bytes, subjects: ["actor": "ada", "target": "ada"])
        .session.id
      steps += 1
      let number = "+1555" + String(format: "%07d", 1_000_000 + index)
      for (event, payload, wait) in [
        ("disable2FA", [String: Value](), 31), ("submitCode", ["code": Value.string("")], 0),
        ("editPhone", ["phone": .string(number)], 0), ("save", [:], 0), ("enable2FA", [:], 31),
        ("submitCode", ["code": .string("")], 0),
      ] {
        clock.advance(by: wait)
        var resolved = payload
        if resolved["code"] != nil { resolved["code"] = .string(codes.lastCode) }
        let step = try await engine.send(session: id, event: event, payload: resolved)
        guard step.accepted else { throw Rejected(event: event, trace: step.trace) }
        steps += 1
      }
    }
    return (store, steps, seconds(ContinuousClock.now - began))
  }

  static func run() async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flow-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }

    print(
      "durable steps on SQLite (own-number procedure, 7 steps each) beside single-row UPDATE transactions"
    )
    for synchronous in SQLiteStore.Synchronous.allCases {
      let procedures = synchronous == .full ? 150 : 300
      let (store, steps, elapsed) = try await durableSteps(
        procedures, synchronous: synchronous, in: folder)
      let durable = Double(steps) / elapsed
      try await store.dispatch()

      // The reference: one single-row UPDATE per transaction, same pool settings.
      var configuration = Configuration()
      configuration.prepareDatabase { db in
        try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
      }
      let pool = try DatabasePool(
        path: folder.appendingPathComponent("raw-\(synchronous.rawValue).sqlite").path,
        configuration: configuration)
      try await pool.write { db in
        try db.execute(
          sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 0)")
      }
      let updates = steps
      let rawBegan = ContinuousClock.now
      for _ in 0..<updates {
        try await pool.write { db in try db.execute(sql: "UPDATE t SET v = v + 1 WHERE id = 1") }
      }
      let raw = Double(updates) / seconds(ContinuousClock.now - rawBegan)
      print(
        "  synchronous=\(synchronous.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) engine \(Int(durable)) steps/s (\(steps) steps), raw UPDATE \(Int(raw)) tx/s, ratio \(String(format: "%.2f", durable / raw))"
      )
    }

    print("in-memory store: cost per 2FA step as history grows (own-number procedures)")
    do {
      let codes = RecordingCodes()
      let (engine, clock) = try inMemoryEngine(codes: codes)
      var recorded = 0
      var index = 0
      func procedures(_ count: Int) throws -> Double {
        let began = ContinuousClock.now
        var steps = 0
        for _ in 0..<count {
          try procedure(
            index, clock: clock, codes: codes,
            start: {
              try engine.startNow(flow: ownFlow, subjects: ["actor": "ada", "target": "ada"])
                .session.id
            },
            send: { id, event, payload in
              let step = try engine.sendNow(session: id, event: event, payload: payload)
              guard step.accepted else { throw Rejected(event: event, trace: step.trace) }
            })
          index += 1
          steps += 7
        }
        return seconds(ContinuousClock.now - began) / Double(steps) * 1e6
      }
      _ = try procedures(143)  // 1k steps recorded
      recorded += 1_001
      let earlyAt = recorded
      let early = try procedures(143)
      recorded += 1_001
      while recorded < 100_000 {
        _ = try procedures(1_000)
        recorded += 7_000
      }
      let lateAt = recorded
      let late = try procedures(143)
      print(
        "  after \(earlyAt) steps: \(String(format: "%.2f", early)) µs/step; after \(lateAt) steps: \(String(format: "%.2f", late)) µs/step; ratio \(String(format: "%.2f", late / early))"
      )
    }

    print("3-state cycle: the full engine (in-memory store) beside a hand-written switch")
    do {
      let (engine, _) = try inMemoryEngine()
      let flow = try engine.flow(Array(cycleFlow.utf8))
      let id = try engine.startNow(flow: flow, subjects: ["actor": "ada", "target": "ada"])
        .session.id
      let engineSteps = 200_000
      let began = ContinuousClock.now
      for _ in 0..<engineSteps {
        _ = try engine.sendNow(session: id, event: "next", payload: [:])
      }
      let engineRate = Double(engineSteps) / seconds(ContinuousClock.now - began)

      enum Ring { case a, b, c }
      var state = Ring.a
      var events = 0
      let switchSteps = 100_000_000
      // The event comes from outside (by name), as it does for the engine; the optimizer cannot
      // fold it away.
      let names = CommandLine.arguments.count > 1_000 ? ["other"] : ["next"]
      let switchBegan = ContinuousClock.now
      for step in 0..<switchSteps {
        let event = names[step & 0]
        switch (state, event) {
        case (.a, "next"): state = .b
        case (.b, "next"): state = .c
        case (.c, "next"): state = .a
        default: break
        }
        events &+= 1
      }
      let switchRate = Double(switchSteps) / seconds(ContinuousClock.now - switchBegan)
      print(
        "  engine \(String(format: "%.2f", engineRate / 1e6)) M steps/s, switch \(String(format: "%.1f", switchRate / 1e6)) M steps/s (ended in \(state), \(events) events), ratio 1/\(Int(switchRate / engineRate))"
      )
    }

    print(
      "bytes per suspended session on disk (SQLite, own-number sessions resting in securityCenter)")
    do {
      let clock = ManualClock()
      let store = try SQLiteStore.create(
        path: folder.appendingPathComponent("size.sqlite").path, world: try world(),
        synchronous: .normal, clock: clock)
      let engine = SessionEngine(
        store: store, catalog: AccountSecurityCatalog.catalog, clock: clock, logger: quiet)
      func size() async throws -> Int {
        try await store.checkpoint()
        let pages = try await store.query("PRAGMA page_count")[0][0]
        let free = try await store.query("PRAGMA freelist_count")[0][0]
        let pageSize = try await store.query("PRAGMA page_size")[0][0]
        return (Int(pages)! - Int(free)!) * Int(pageSize)!
      }
      _ = try await engine.start(
        flow: ownFlow.sourceBytes, subjects: ["actor": "ada", "target": "ada"])
      let before = try await size()
      let count = 5_000
      for _ in 0..<count {
        _ = try await engine.start(
          flow: ownFlow.sourceBytes, subjects: ["actor": "ada", "target": "ada"])
      }
      let after = try await size()
      let body = try await store.query("SELECT AVG(LENGTH(body)) FROM sessions")[0][0]
      // The sessions table alone (SQLite's dbstat), without the audit entries the starts wrote.
      let table = try? await store.query(
        "SELECT SUM(pgsize) - SUM(unused), SUM(pgsize) FROM dbstat WHERE name = 'sessions'")
      let used = table.flatMap { Int($0[0][0]) }.map { "\($0 / (count + 1))" } ?? "?"
      let pages = table.flatMap { Int($0[0][1]) }.map { "\($0 / (count + 1))" } ?? "?"
      print(
        "  sessions table: \(used) bytes per session used, \(pages) with the free space of its pages; file growth per start, its audit entry included: \(after - before > 0 ? (after - before) / count : 0) bytes (\(count) sessions; the signed body averages \(body.prefix(5)) bytes and holds no facts)"
      )
    }
  }
}
