import AccountSecurity
import FlowEngine
import Foundation
import PostgresStore
import Testing

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
}
