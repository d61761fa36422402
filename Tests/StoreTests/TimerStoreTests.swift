import AccountSecurity
import FlowEngine
import Foundation
import SQLiteStore
import Testing

/// Timers on every store: due times kept with the session, fired once by a tick, void once the
/// session moved on, and fired first when an event comes late.
@Suite("Timers on every store")
struct TimerStoreTests {
  /// Ada, 2FA on, in the Security Center of the own-number flow (idle timeout 15m, deadline 1h).
  func started(_ store: StoreFixture) async throws -> String {
    try await store.start(ownFlow, actor: "ada").session.id
  }

  @Test("the idle timeout fires once, at 15 minutes and not at 14", arguments: StoreKind.allCases)
  func idleTimeoutFiresOnce(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await started(store)
    let due = store.clock.now() + 900
    #expect(try await store.row(id).dueAt == due)
    store.clock.advance(by: 14 * 60)
    #expect(try await store.engine.tick().isEmpty)
    #expect(try await store.row(id).state == "securityCenter")
    store.clock.advance(by: 60)
    let fired = try await store.engine.tick()
    #expect(fired.map(\.session.id) == [id])
    #expect(fired.first?.traces.map(\.timer) == ["after 15m in securityCenter"])
    let row = try await store.row(id)
    #expect(row.state == "expired")
    #expect(row.outcome == "expired")
    #expect(row.dueAt == nil)
    // A second tick fires nothing: the timer was spent with its step.
    store.clock.advance(by: 3_600)
    #expect(try await store.engine.tick().isEmpty)
    let timers = try await store.audit(id).filter { $0.kind == .timer }
    #expect(timers.count == 1)
    #expect(timers.first?.detail == "after 15m in securityCenter: securityCenter → expired (seq 2)")
    #expect(try await store.audit(id).contains { $0.kind == .sessionExpired })
  }

  @Test(
    "entering a state restarts its timer; a timer of a state left is void",
    arguments: StoreKind.allCases)
  func reentryRestarts(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await started(store)
    try await store.send(id, "disable2FA")
    store.clock.advance(by: 10 * 60)
    // A resend re-enters verifyingCurrentNumber: its timer counts from now.
    store.clock.advance(by: 60)
    try await store.send(id, "resendCode")
    #expect(try await store.row(id).dueAt == store.clock.now() + 900)
    store.clock.advance(by: 14 * 60)
    #expect(try await store.engine.tick().isEmpty)
    #expect(try await store.row(id).state == "verifyingCurrentNumber")
    store.clock.advance(by: 60)
    #expect(try await store.engine.tick().count == 1)
    #expect(try await store.row(id).state == "expired")
  }

  @Test(
    "an event after the due time fires the timer first, then is judged",
    arguments: StoreKind.allCases)
  func lateEventFiresTimersFirst(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await started(store)
    try await store.send(id, "disable2FA")
    let code = try #require(try await store.lastCode(to: "+15550100001"))
    try await store.send(id, "submitCode", ["code": .string(code)])
    #expect(try await store.user("ada").twoFactor.enabled == false)
    store.clock.advance(by: 20 * 60)
    let late = try await store.send(id, "editPhone", ["phone": .string("+15550107777")])
    #expect(late.timers.map(\.timer) == ["after 15m in editingPhone"])
    #expect(late.trace.rejection?.kind == "session-ended")
    #expect(late.session.outcome == "expired")
    // Expiry before a number is saved puts 2FA back on, on the unchanged number.
    #expect(try await store.user("ada").twoFactor.enabled)
    #expect(try await store.user("ada").phone.e164 == "+15550100001")
    #expect(try await store.row(id).state == "expired")
  }

  @Test("the deadline ends a session that stayed busy", arguments: StoreKind.allCases)
  func deadline(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await started(store)
    try await store.send(id, "disable2FA")
    for _ in 0..<5 {
      store.clock.advance(by: 11 * 60)
      try await store.send(id, "resendCode")
    }
    // 55 minutes in, still busy; the deadline is at 1 h whatever the idle timer says.
    store.clock.advance(by: 5 * 60)
    let fired = try await store.engine.tick()
    #expect(fired.first?.traces.map(\.timer) == ["deadline 1h"])
    #expect(try await store.row(id).outcome == "expired")
    // Past its deadline, every event is rejected as expired (SECURITY.md 27).
    let late = try await store.send(id, "resendCode")
    #expect(late.trace.rejection?.kind == "session-expired")
  }

  @Test(
    "a due timer of a session the flow text ended differently is void",
    arguments: StoreKind.allCases)
  func voidAfterMovingOn(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await started(store)
    store.clock.advance(by: 10 * 60)
    try await store.send(id, "cancel")
    store.clock.advance(by: 10 * 60)
    #expect(try await store.engine.tick().isEmpty)
    #expect(try await store.row(id).outcome == "cancelled")
    #expect(try await store.audit(id).allSatisfy { $0.kind != .timer })
  }

  @Test("many due timers fire in due order, in batches", arguments: StoreKind.allCases)
  func manyInOrder(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    var ids: [String] = []
    for _ in 0..<30 {
      ids.append(try await started(store))
      store.clock.advance(by: 1)
    }
    store.clock.advance(by: 3_600)
    let fired = try await store.engine.tick(batch: 7)
    // The idle timeout of each (due one second apart) fires before any deadline would.
    #expect(fired.map(\.session.id) == ids)
    #expect(fired.map(\.due) == fired.map(\.due).sorted())
    for id in ids { #expect(try await store.row(id).outcome == "expired") }
  }
}

/// `verifyCode.expired`: a flow can tell an expired code from a wrong one.
@Suite("Expired codes")
struct ExpiredCodeTests {
  /// The own-number flow, with a resend when the code just submitted had expired.
  static let resending: String = {
    let original = (try? text(ownFlow)) ?? ""
    return original.replacingOccurrences(
      of: """
              - to: locked
                when: lockedOut
              - to: verifyingCurrentNumber
                description: A wrong or expired code; try again or resend.
        """,
      with: """
              - to: locked
                when: lockedOut
              - to: verifyingCurrentNumber
                when: verifyCode.expired
                description: That code expired; a new one goes out.
                do:
                  - sendCode: { purpose: disable-2fa, to: target.phone, ttl: settings.codeTtl }
              - to: verifyingCurrentNumber
                description: A wrong code; try again or resend.
        """)
  }()

  @Test(
    "an expired code reads expired, counts as a failure, and the flow resends",
    arguments: StoreKind.allCases)
  func expiredCode(_ kind: StoreKind) async throws {
    #expect(Self.resending.contains("when: verifyCode.expired"))
    let store = try await StoreFixture(kind)
    let id = try await store.start(text: Self.resending, actor: "ada").session.id
    try await store.send(id, "disable2FA")
    let first = try #require(try await store.lastCode(to: "+15550100001"))
    store.clock.advance(by: 10 * 60)
    let late = try await store.send(id, "submitCode", ["code": .string(first)])
    #expect(late.accepted)
    let verify = try #require(late.trace.effects.first { $0.action == "verifyCode" })
    #expect(verify.results.contains { $0.name == "expired" && $0.value == "true" })
    #expect(verify.results.contains { $0.name == "failures" && $0.value == "1" })
    #expect(late.trace.effects.map(\.action) == ["verifyCode", "sendCode"])
    let second = try #require(try await store.lastCode(to: "+15550100001"))
    #expect(second != first)
    // A wrong code in time is not expired.
    let wrong = try await store.send(id, "submitCode", ["code": .string("000000")])
    let verdict = try #require(wrong.trace.effects.first { $0.action == "verifyCode" })
    #expect(verdict.results.contains { $0.name == "expired" && $0.value == "false" })
    #expect(wrong.trace.effects.map(\.action) == ["verifyCode"])
    let right = try await store.send(id, "submitCode", ["code": .string(second)])
    #expect(right.session.state == "editingPhone")
  }
}
