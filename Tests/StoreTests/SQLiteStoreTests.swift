import AccountSecurity
import FlowEngine
import Foundation
import SQLiteStore
import Testing

/// What only the SQLite store has: a file anyone can open, WAL and its settings.
@Suite("SQLite store")
struct SQLiteStoreTests {
  /// The attack of issue 9: a technician's denied session, rewritten to `phoneEdited` with an
  /// admin's number staged, would change a number. Rows are signed and bound to their id: a
  /// changed body, or another session's valid body copied onto the row, is refused.
  @Test("a session row changed by hand is refused")
  func tamperedRowsAreRefused() async throws {
    let store = try StoreFixture(.sqlite)
    let sqlite = try #require(store.sqlite)
    let denied = try await store.start(teamFlow, actor: "tess", target: "mia")
    #expect(denied.session.outcome == "denied")
    let id = denied.session.id
    // Ada's session for Tess, with a number staged: a valid body of another row.
    let other = try await store.start(teamFlow, actor: "ada", target: "tess").session.id
    try await store.send(other, "editPhone", ["phone": .string("+15550106666")])
    let phoneEdited = try #require(denied.flow.stateIndex["phoneEdited"])

    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    func forge(_ body: [UInt8]) async throws {
      try await sqlite.execute(
        "UPDATE sessions SET state = 'phoneEdited', outcome = NULL, seq = 2, body = x'\(hex(body))' WHERE id = '\(id)'"
      )
    }
    func expectRefused(_ what: String) async throws {
      do {
        try await store.send(id, "save")
        Issue.record("\(what): the forged session took a step")
      } catch let failure as SessionEngine.Failure {
        guard case .corruptSession(let message) = failure else {
          Issue.record("\(what): expected a corrupt session, got \(failure)")
          return
        }
        #expect(message.contains("authentication tag does not match"), "\(what): \(message)")
      }
    }

    var edited = try await store.row(id).body
    #expect(edited[3] == UInt8(2 * denied.session.stateID), "the state index follows seq")
    edited[3] = UInt8(2 * phoneEdited)
    try await forge(edited)
    try await expectRefused("state rewritten")

    try await forge(try await store.row(other).body)
    try await expectRefused("another session's body")

    #expect(try await store.user("mia").phone.e164 == "+15550100004")
    #expect(try await store.user("tess").phone.e164 == "+15550100003")
  }

  @Test("WAL, synchronous as configured, integrity ok, and the schema through the migrator")
  func settings() async throws {
    for (setting, expected) in [(SQLiteStore.Synchronous.full, "2"), (.normal, "1")] {
      let store = try StoreFixture(.sqlite, synchronous: setting)
      let sqlite = try #require(store.sqlite)
      #expect(try await sqlite.query("PRAGMA journal_mode") == [["wal"]])
      #expect(try await sqlite.query("PRAGMA synchronous") == [[expected]])
      #expect(try await sqlite.query("PRAGMA integrity_check") == [["ok"]])
      #expect(try await sqlite.query("SELECT identifier FROM grdb_migrations") == [["v1"]])
    }
  }

  @Test("codes rest only as hashes, outbox bodies sealed, delivered once per key")
  func noCodeAtRest() async throws {
    let store = try StoreFixture(.sqlite)
    let sqlite = try #require(store.sqlite)
    let id = try await store.start(ownFlow, actor: "ada").session.id
    _ = try await store.engine.send(session: id, event: "disable2FA", payload: [:])
    // Before dispatch, the outbox holds the message sealed: no code in any column.
    let code = try #require(try await sqlite.query("SELECT sealed FROM outbox").first)
    #expect(code.first?.hasPrefix("<") == true)
    try await sqlite.dispatch()
    try await sqlite.dispatch()
    let delivered = try #require(try await store.lastCode(to: "+15550100001"))
    for table in ["codes", "outbox", "audit", "sessions", "failure_counters", "last_sends"] {
      let rows = try await sqlite.query("SELECT * FROM \(table)")
      #expect(!rows.flatMap { $0 }.contains { $0.contains(delivered) }, "\(table) holds the code")
    }
    #expect(try await sqlite.query("SELECT COUNT(*) FROM inbox") == [["1"]])
    #expect(try await sqlite.query("SELECT key FROM inbox") == [["\(id):2:0"]])
  }

  @Test("a live store's deliveries do not go to inboxes")
  func liveStoresHaveNoInbox() async throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "live-\(UUID().uuidString).sqlite"
    ).path
    let store = try SQLiteStore.create(path: path, world: AccountSecurityState(), kind: .live)
    await #expect(throws: StoreError.self) { try await store.inbox(of: "+15550100001") }
    #expect(try await store.dispatch() == 0, "no provider, nothing sent")
  }

  @Test("opening a file that is not a store is a store error")
  func notAStore() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "junk-\(UUID().uuidString).sqlite"
    ).path
    try Data("junk".utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: StoreError.self) { try SQLiteStore.open(path: path) }
    #expect(throws: StoreError.self) { try SQLiteStore.open(path: path + ".missing") }
  }
}

/// Infrastructure failures are errors, never a flow's rejection, and change nothing.
@Suite("SQLite store failures")
struct SQLiteFailureTests {
  @Test("a store locked past its timeout throws a store error and changes nothing")
  func lockedPastTheTimeout() async throws {
    let store = try StoreFixture(.sqlite)
    let path = try #require(store.sqlite).path
    let id = try await store.start(ownFlow, actor: "ada").session.id
    let impatient = try SQLiteStore.open(path: path, busyTimeout: 0.2, clock: store.clock)
    let engine = SessionEngine(
      store: impatient, catalog: AccountSecurityCatalog.catalog, clock: store.clock)
    // Another process holds the write lock (sqlite3's own command-line tool would do the same).
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    holder.arguments = [
      "python3", "-c",
      "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(3)",
      path,
    ]
    let out = Pipe()
    holder.standardOutput = out
    try holder.run()
    _ = out.fileHandleForReading.availableData  // "locked"
    await #expect(throws: StoreError.self) {
      _ = try await engine.send(session: id, event: "disable2FA", payload: [:])
    }
    holder.terminate()
    holder.waitUntilExit()
    let row = try await store.row(id)
    #expect(row.seq == 1 && row.state == "securityCenter", "nothing changed")
    #expect(try await store.audit(id).count == 1, "not even an audit entry: the step never ran")
    #expect(try await engine.send(session: id, event: "disable2FA", payload: [:]).accepted)
  }
}
