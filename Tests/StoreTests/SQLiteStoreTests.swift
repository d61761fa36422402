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
    let store = try await StoreFixture(.sqlite)
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
      let store = try await StoreFixture(.sqlite, synchronous: setting)
      let sqlite = try #require(store.sqlite)
      #expect(try await sqlite.query("PRAGMA journal_mode") == [["wal"]])
      #expect(try await sqlite.query("PRAGMA synchronous") == [[expected]])
      #expect(try await sqlite.query("PRAGMA integrity_check") == [["ok"]])
      #expect(
        try await sqlite.query("SELECT identifier FROM grdb_migrations ORDER BY rowid") == [
          ["v1"], ["v2-timers"], ["v3-subjects"], ["v4-service"],
        ])
    }
  }

  @Test("no code and no key rest in the file; codes are keyed hashes, the outbox is sealed")
  func noCodeAtRest() async throws {
    let store = try await StoreFixture(.sqlite)
    let sqlite = try #require(store.sqlite)
    let id = try await store.start(ownFlow, actor: "ada").session.id
    _ = try await store.engine.send(session: id, event: "disable2FA", payload: [:])
    let tables = try await sqlite.query(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).map { $0[0] }
    func everything(except skipped: Set<String> = []) async throws -> String {
      var all = ""
      for table in tables where !skipped.contains(table) {
        all += try await sqlite.query("SELECT * FROM \(table)").flatMap { $0 }.joined(
          separator: "|")
      }
      return all
    }
    // Before dispatch, the code exists only sealed in the outbox.
    let pending = try await everything()
    #expect(pending.contains("+1******0001"), "the outbox row is there, its destination masked")
    // The flow's text (in `flows`) holds the message's template; only the filled-in message
    // would betray the code.
    #expect(
      !(try await everything(except: ["flows"])).contains("Your verification code is"),
      "the outbox body is sealed")
    try await sqlite.dispatch()
    try await sqlite.dispatch()
    let code = try #require(try await store.lastCode(to: "+15550100001"))
    #expect(code.count == 6)
    // The simulated inbox is the phone; everything else in the file is searched as text.
    let rest = try await everything(except: ["inbox"])
    #expect(!rest.contains(code), "a table other than the simulated phone holds the code")
    #expect(!rest.contains(sqlite.sessionKey.hex), "the file holds its key")
    #expect(try await sqlite.query("SELECT COUNT(*) FROM inbox") == [["1"]])
    #expect(try await sqlite.query("SELECT key FROM inbox") == [["\(id):2:0"]])
    // Failure counters name the destination by a keyed digest, not by the number.
    _ = try await store.engine.send(
      session: id, event: "submitCode", payload: ["code": .string("000000")])
    let keys = try await sqlite.query("SELECT key FROM failure_counters").map { $0[0] }
    #expect(keys.count == 1 && keys[0].hasPrefix("ada|") && !keys[0].contains("+1555"))
  }

  /// SECURITY.md 20: full numbers only in the profile (and in the simulated phone of a dry-run
  /// store); the staged new number of a session is the one the issue allows in a row.
  @Test("no full phone number rests outside the profile")
  func numbersOnlyInTheProfile() async throws {
    let store = try await StoreFixture(.sqlite)
    let sqlite = try #require(store.sqlite)
    let own = try await store.start(ownFlow, actor: "ada").session.id
    try await store.send(own, "disable2FA")
    let code = try #require(try await store.lastCode(to: "+15550100001"))
    try await store.send(own, "submitCode", ["code": .string(code)])
    let team = try await store.start(teamFlow, actor: "ada", target: "tess").session.id
    try await store.send(team, "editPhone", ["phone": .string("+15550108888")])
    #expect(try await store.send(team, "save").session.outcome == "completed")
    let tables = try await sqlite.query(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).map { $0[0] }
    for table in tables where !["phone_numbers", "inbox", "sessions"].contains(table) {
      let text = try await sqlite.query("SELECT * FROM \(table)").flatMap { $0 }.joined(
        separator: "|")
      for number in ["+15550100001", "+15550100003", "+15550108888"] {
        #expect(!text.contains(number), "\(table) holds \(number)")
      }
    }
    let bodies = try await sqlite.query("SELECT body FROM sessions").flatMap { $0 }.joined()
    #expect(!bodies.contains("+15550100001") && !bodies.contains("+15550100003"))
    #expect(try await store.user("tess").phone.e164 == "+15550108888")
    #expect(try await sqlite.inbox(of: "+15550100003").count == 1, "Tess's old phone was told")
  }

  @Test("a store opened with another key is refused")
  func wrongKey() async throws {
    let store = try await StoreFixture(.sqlite)
    let path = try #require(store.sqlite).path
    #expect(throws: StoreError("the key given for \(path) is not this store's key")) {
      try SQLiteStore.open(path: path, key: .random())
    }
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
    #expect(throws: StoreError.self) { try SQLiteStore.open(path: path, key: .random()) }
    #expect(throws: StoreError.self) {
      try SQLiteStore.open(path: path + ".missing", key: .random())
    }
  }
}

/// Infrastructure failures are errors, never a flow's rejection, and change nothing.
@Suite("SQLite store failures")
struct SQLiteFailureTests {
  @Test("a store locked past its timeout throws a store error and changes nothing")
  func lockedPastTheTimeout() async throws {
    let store = try await StoreFixture(.sqlite)
    let path = try #require(store.sqlite).path
    let id = try await store.start(ownFlow, actor: "ada").session.id
    let impatient = try SQLiteStore.open(
      path: path, key: try #require(store.sqlite).sessionKey, busyTimeout: 0.2, clock: store.clock)
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
