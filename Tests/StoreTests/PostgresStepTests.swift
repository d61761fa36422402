import AccountSecurity
import FlowEngine
import Foundation
import Testing

@testable import PostgresStore

/// How a step on PostgreSQL reads and locks: the session row with its subjects' users in one
/// statement, and a session kept before its subjects were (schema v1) stepped all the same.
@Suite("PostgreSQL steps")
struct PostgresStepTests {
  @Test("a session keeps its subjects; one from before they were kept still steps")
  func sessionsWithoutSubjects() async throws {
    let store = try await StoreFixture(.postgres)
    let postgres = try #require(store.postgres)
    let id = try await store.start(ownFlow, actor: "ada").session.id
    let kept = try await postgres.query(
      "SELECT array_to_string(subjects, ',') FROM sessions WHERE id = '\(id)'")
    #expect(kept == [["ada"]])
    // As a session written by the first schema: no subjects (its users are locked apart).
    try await postgres.execute("UPDATE sessions SET subjects = NULL WHERE id = '\(id)'")
    try await store.send(id, "disable2FA")
    let code = try #require(try await store.lastCode(to: "+15550100001"))
    store.clock.advance(by: 60)
    let verified = try await store.send(id, "submitCode", ["code": .string(code)])
    #expect(verified.accepted && verified.session.state == "editingPhone")
    #expect(try await store.user("ada").twoFactor.enabled == false)
  }

  @Test("a step reads its subjects' facts as they are now, in the statement that locks them")
  func factsAreCurrent() async throws {
    let store = try await StoreFixture(.postgres)
    let postgres = try #require(store.postgres)
    let id = try await store.start(ownFlow, actor: "ada").session.id
    // Ada's number changes outside the session: the next step sees the profile changed
    // (SECURITY.md: a session does not act on a profile changed under it), sends nothing,
    // and the session stays where it was.
    try await postgres.execute(
      "UPDATE phone_numbers SET e164 = '+15550107777' WHERE user_id = 'ada'")
    let step = try await store.send(id, "disable2FA")
    #expect(step.trace.rejection?.kind == "facts-changed")
    #expect(step.session.seq == 1 && step.session.state == "securityCenter")
    #expect(try await store.lastCode(to: "+15550107777") == nil)
    #expect(try await store.lastCode(to: "+15550100001") == nil)
    // A new session reads the new number and sends the code there.
    let fresh = try await store.start(ownFlow, actor: "ada").session.id
    store.clock.advance(by: 60)
    #expect(try await store.send(fresh, "disable2FA").accepted)
    #expect(try await store.lastCode(to: "+15550107777") != nil)
  }

  /// A step's update is sent without waiting for its answer (the row is locked), so the
  /// server itself must fail a transaction whose update changed no row. A trigger makes the
  /// update skip the row: once (the step runs again and lands once), then always (it fails,
  /// and nothing of it is left).
  @Test("an update that changes no row fails its transaction in the server; the step runs again")
  func updateThatChangesNothing() async throws {
    let store = try await StoreFixture(.postgres)
    let postgres = try #require(store.postgres)
    let id = try await store.start(ownFlow, actor: "ada").session.id
    // A sequence is not rolled back: the first update skips, the ones after do not.
    try await postgres.execute("CREATE SEQUENCE skips")
    try await postgres.execute("CREATE TABLE skip_always (always BOOLEAN)")
    try await postgres.execute(
      """
      CREATE FUNCTION skip_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF nextval('skips') = 1 OR EXISTS (SELECT FROM skip_always)
      THEN RETURN NULL; END IF; RETURN NEW; END $$
      """)
    try await postgres.execute(
      "CREATE TRIGGER skip_update BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION skip_update()"
    )
    let before = try await store.audit(id).count
    let step = try await store.send(id, "disable2FA")
    #expect(step.accepted && step.session.seq == 2, "\(step.trace)")
    #expect(try await store.row(id).seq == 2)
    // The code sent and the step, each once: the first try left nothing.
    let audit = try await store.audit(id).map(\.detail)
    #expect(
      audit.dropFirst(before) == [
        "disable-2fa code sent to +1******0001",
        "disable2FA: securityCenter → verifyingCurrentNumber (seq 2)",
      ], "\(audit)")
    #expect(try await postgres.query("SELECT last_value::text FROM skips") == [["2"]])

    // Every update skips: the step fails after its tries, and the session and its audit are
    // as they were.
    try await postgres.execute("INSERT INTO skip_always VALUES (true)")
    store.clock.advance(by: 60)
    let error = await #expect(throws: StoreError.self) {
      try await store.send(id, "resendCode")
    }
    #expect("\(try #require(error))".contains("moved on under its step"))
    #expect(try await store.row(id).seq == 2)
    #expect(try await store.audit(id).map(\.detail) == audit)
  }

  /// A kept answer for a key, as the HTTP service keeps one.
  static func key(_ key: String) -> SessionEngine.Idempotency {
    SessionEngine.Idempotency(owner: "ada", key: key, digest: "d") { step in
      KeptReply(digest: "d", status: 200, body: Array("\(step.session.seq)".utf8))
    }
  }

  /// A step whose first reads the store makes for it (the session, a kept answer, the users
  /// of a start) runs on its connection's event loop. One that reads only its session and
  /// writes only it (and its audit) is one statement on its own, which checks that what it
  /// read has not changed; one that waits for more there (a save reads the member's codes)
  /// goes on on a thread, from what was read, and lands once.
  @Test("a step runs on the event loop, alone if it can; one that waits goes on a thread, once")
  func stepsOnTheLoop() async throws {
    let store = try await StoreFixture(.postgres)
    let postgres = try #require(store.postgres)
    let id = try await store.start(teamFlow, actor: "ada", target: "tess").session.id
    var counts = postgres.stepsOnLoop
    #expect(counts == (1, 0, 0), "the start read its users ahead")

    // Refused: its audit entry is the one statement.
    let refused = try await store.send(id, "save")
    #expect(refused.trace.rejection != nil && refused.session.seq == 1)
    #expect(postgres.stepsOnLoop == (counts.onLoop + 1, counts.alone + 1, counts.moved))
    let edited = try await store.send(id, "editPhone", ["phone": .string("+15550108888")])
    #expect(edited.accepted && edited.session.seq == 2)
    #expect(postgres.stepsOnLoop == (counts.onLoop + 2, counts.alone + 2, counts.moved))
    counts = postgres.stepsOnLoop

    // A kept answer is read ahead too (in a transaction: the answer is kept with the step):
    // the replay takes no step and no thread.
    let keyed = try await store.engine.send(
      session: id, event: "editPhone", payload: ["phone": .string("+15550107777")],
      idempotency: Self.key("k1"))
    let replayed = try await store.engine.send(
      session: id, event: "editPhone", payload: ["phone": .string("+15550107777")],
      idempotency: Self.key("k1"))
    guard case .step(let step, _) = keyed, case .replay(let kept) = replayed else {
      Issue.record("a step, then its replay: \(keyed), \(replayed)")
      return
    }
    #expect(step.session.seq == 3 && String(decoding: kept.body, as: UTF8.self) == "3")
    #expect(postgres.stepsOnLoop == (counts.onLoop + 2, counts.alone, counts.moved))
    counts = postgres.stepsOnLoop

    // A step's session that changed under it is not written (nor its audit entry): an
    // update that changed no row (a trigger skips it, once) fails that try, and the step
    // runs again, in a transaction, and lands once.
    try await postgres.execute("CREATE SEQUENCE skips")
    try await postgres.execute(
      """
      CREATE FUNCTION skip_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF nextval('skips') = 1 THEN RETURN NULL; END IF; RETURN NEW; END $$
      """)
    try await postgres.execute(
      "CREATE TRIGGER skip_update BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION skip_update()"
    )
    let again = try await store.send(id, "editPhone", ["phone": .string("+15550107777")])
    #expect(again.accepted && again.session.seq == 4)
    #expect(try await store.row(id).seq == 4)
    #expect(postgres.stepsOnLoop == (counts.onLoop + 1, counts.alone, counts.moved))
    #expect(try await postgres.query("SELECT last_value::text FROM skips") == [["2"]])
    counts = postgres.stepsOnLoop

    // A subject that changed since the step read it (its version is not the one read): the
    // statement writes nothing, audit included, and the step runs again.
    let row = try await store.row(id)
    let entry = try #require(try await store.audit(id).last)
    let before = try await store.audit(id).count
    let changed = try await postgres.run { link in
      try link.rows(
        Statements.SteppedAlone.self,
        [
          .text(row.state), .null, .int(row.seq + 1), .int(row.updatedAt), .int(row.expiresAt),
          .null, .bytes(row.body), .text(id), .int(row.seq), .ints([999_999, 999_999]),
        ] + Statements.auditArrays([entry])
      ).first?.int("changed")
    }
    #expect(changed == 0)
    #expect(try await store.row(id).seq == 4)
    #expect(try await store.audit(id).count == before)

    let saved = try await store.send(id, "save")
    #expect(saved.accepted && saved.session.state == "saved" && saved.session.seq == 5)
    #expect(postgres.stepsOnLoop == (counts.onLoop, counts.alone, counts.moved + 1))
    // What the loop's attempt sent was held and dropped: the save is there once.
    #expect(try await store.user("tess").phone.e164 == "+15550107777")
    #expect(
      try await postgres.query(
        "SELECT count(*)::text FROM phone_changes WHERE session = '\(id)'") == [["1"]])
    let entries = try await store.audit(id).map(\.detail)
    #expect(
      entries == [
        "(start): checkingAccess → editingPhone (seq 1)",
        "save rejected in editingPhone: not-accepted",
        "editPhone: editingPhone → phoneEdited (seq 2)",
        "editPhone: phoneEdited → phoneEdited (seq 3)",
        "editPhone: phoneEdited → phoneEdited (seq 4)",
        "phone changed from +1******0003 to +1******7777", "0 pending codes invalidated",
        "notified at +1******0003 and by email", "save: phoneEdited → saved (seq 5)",
      ])
    #expect(try await store.row(id).seq == 5)
  }

  /// A numbered row, prepared once per connection.
  enum InsertNumber: PreparedSQL {
    static let name = "test_insert_number"
    static let sql = "INSERT INTO pipeline (n) VALUES ($1)"
  }

  @Test("statements sent without waiting run in the order sent; one that fails fails the commit")
  func pipelined() async throws {
    let store = try await StoreFixture(.postgres)
    let postgres = try #require(store.postgres)
    try await postgres.execute("CREATE TABLE pipeline (id BIGSERIAL PRIMARY KEY, n BIGINT UNIQUE)")
    try await postgres.run { link in
      try link.send("BEGIN")
      // The first run of a prepared statement on a connection waits (postgres-nio prepares
      // it first and would run what was sent after it before it); the rest are sent.
      try link.send(InsertNumber.self, [.int(1)])
      try link.send(InsertNumber.self, [.int(2)])
      try link.send("INSERT INTO pipeline (n) VALUES (3)")
      try link.send(InsertNumber.self, [.int(4)])
      try link.commit()
    }
    #expect(
      try await postgres.query("SELECT n::text FROM pipeline ORDER BY id") == [
        ["1"], ["2"], ["3"], ["4"],
      ])
    let failure = await #expect(throws: (any Error).self) {
      try await postgres.run { link in
        try link.send("BEGIN")
        try link.send(InsertNumber.self, [.int(5)])
        try link.send(InsertNumber.self, [.int(2)])  // taken: fails, and so the transaction
        try link.send(InsertNumber.self, [.int(6)])
        try link.commit()
      }
    }
    #expect(String(reflecting: try #require(failure)).contains("23505"))
    #expect(try await postgres.query("SELECT count(*)::text FROM pipeline") == [["4"]])

    // What a connection prepared is forgotten when it closes (the pool opens new ones).
    #expect(postgres.prepared.connections > 0)
    try? await postgres.execute(
      """
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = current_database() AND backend_type = 'client backend'
      """)
    let deadline = ContinuousClock.now + .seconds(5)
    while postgres.prepared.connections > 0, ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    #expect(postgres.prepared.connections == 0)
    try await postgres.run { link in
      try link.send("BEGIN")
      try link.send(InsertNumber.self, [.int(7)])
      try link.send(InsertNumber.self, [.int(8)])
      try link.commit()
    }
    #expect(try await postgres.query("SELECT count(*)::text FROM pipeline") == [["6"]])
  }

  @Test("a URL names a TCP host or, as libpq does, the folder of the server's unix socket")
  func socketURLs() async throws {
    #expect(
      try PostgresStore.redacted("postgres://flow:secret@127.0.0.1:5433/flows")
        == "postgres://flow@127.0.0.1:5433/flows")
    #expect(
      try PostgresStore.redacted("postgres://flow@/flows?host=/run/postgresql")
        == "postgres://flow@/flows?host=/run/postgresql")
    for (url, says) in [
      ("postgres://flow@/flows", "names no host"),
      ("postgres://flow@/flows?host=run/postgresql", "an absolute path"),
      ("postgres://flow@db.example/flows?host=/run/postgresql", "no host before the database"),
      ("mysql://flow@127.0.0.1/flows", "is not a PostgreSQL URL"),
    ] {
      let error = #expect(throws: StoreError.self) { try PostgresStore.redacted(url) }
      #expect("\(try #require(error))".contains(says), "\(url)")
    }
    // Through the socket of the tests' own cluster (scripts/pg-cluster.sh puts it in run/;
    // the socket of a server named by FLOWENGINE_TEST_POSTGRES is not known).
    let tcp = try TestPostgres.database()
    guard let folder = TestPostgres.clusterFolder else { return }
    let port = try #require(URLComponents(string: tcp)?.port)
    let name = String(tcp[tcp.index(after: try #require(tcp.lastIndex(of: "/")))...])
    let socket = "postgres://postgres@:\(port)/\(name)?host=\(folder)/run"
    let store = try await PostgresStore.create(
      url: socket,
      world: try #require(
        WorldFile.load(path: packageRoot.appendingPathComponent("examples/team.yaml").path).state))
    let users = try await store.users().map { $0.id }
    await store.close()
    #expect(users.contains("ada"))
  }
}
