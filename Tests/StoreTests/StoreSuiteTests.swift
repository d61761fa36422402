import AccountSecurity
import FlowEngine
import Foundation
import SQLiteStore
import Testing

/// One suite, run against every store: what a step promises does not depend on where the
/// session lives.
@Suite("Every store")
struct StoreSuiteTests {
  @Test(
    "the own-number procedure, one step per call, ends completed", arguments: StoreKind.allCases)
  func ownNumberHappyPath(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let started = try await store.start(ownFlow, actor: "ada")
    let id = started.session.id
    #expect(started.session.seq == 1)
    #expect(started.session.state == "securityCenter")
    try await store.send(id, "disable2FA")
    let code = try #require(try await store.lastCode(to: "+15550100001"))
    store.clock.advance(by: 60)
    let verified = try await store.send(id, "submitCode", ["code": .string(code)])
    #expect(verified.session.state == "editingPhone")
    #expect(try await store.user("ada").twoFactor.enabled == false)
    try await store.send(id, "editPhone", ["phone": .string("+1 555 010 9999")])
    try await store.send(id, "save")
    try await store.send(id, "enable2FA")
    let proof = try #require(try await store.lastCode(to: "+15550109999"))
    let done = try await store.send(id, "submitCode", ["code": .string(proof)])
    #expect(done.session.outcome == "completed")
    #expect(done.session.seq == 7)
    let ada = try await store.user("ada")
    #expect(ada.phone.e164 == "+15550109999" && ada.twoFactor.enabled && ada.phoneVerified)

    let row = try await store.row(id)
    #expect(row.seq == 7 && row.state == "completed" && row.outcome == "completed")
    let audit = try await store.audit(id)
    #expect(audit.filter { $0.kind == .step }.count == row.seq, "one step entry per seq")
    for kind in [AuditEntry.Kind.twoFactorDisabled, .phoneChanged, .twoFactorEnabled] {
      #expect(audit.contains { $0.kind == kind })
    }
  }

  @Test("a rejected event changes nothing but is audited", arguments: StoreKind.allCases)
  func rejectionChangesNothing(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await store.start(ownFlow, actor: "ada").session.id
    let before = try await store.row(id)
    let step = try await store.send(id, "editPhone", ["phone": .string("+15550109999")])
    #expect(step.trace.rejection?.kind == "not-accepted")
    #expect(try await store.row(id) == before)
    #expect(try await store.user("ada").phone.e164 == "+15550100001")
    #expect(try await store.audit(id).last?.kind == .eventRejected)
  }

  @Test(
    "a stale seq is a conflict that changes nothing and is audited", arguments: StoreKind.allCases)
  func staleSeqConflicts(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await store.start(ownFlow, actor: "ada").session.id
    try await store.send(id, "disable2FA", seq: 1)
    let before = try await store.row(id)
    await #expect(throws: SessionEngine.Failure.conflict(session: id, expected: 1, current: 2)) {
      try await store.send(id, "cancel", seq: 1)
    }
    #expect(try await store.row(id) == before)
    #expect(try await store.audit(id).last?.outcome == "rejected")
    #expect(try await store.audit(id).last?.detail.contains("conflict") == true)
    let cancelled = try await store.send(id, "cancel", seq: 2)
    #expect(cancelled.session.outcome == "cancelled")
  }

  @Test("an unknown session is a typed failure", arguments: StoreKind.allCases)
  func unknownSession(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    await #expect(throws: SessionEngine.Failure.unknownSession("nope")) {
      try await store.send("nope", "cancel")
    }
    await #expect(throws: SessionEngine.Failure.unknownSubject(field: "actor", id: "nobody")) {
      try await store.start(ownFlow, actor: "nobody")
    }
  }

  /// SECURITY.md 26. The flow below validates: on a wrong code it sends a fresh one at once.
  /// Inside the resend cooldown that send fails and the step rolls back; the failed guess must
  /// stay counted, or guesses are unlimited.
  @Test(
    "a failed verification stays counted when the rest of its step rolls back",
    arguments: StoreKind.allCases)
  func failedVerificationsSurviveRollback(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let flow = try resendOnWrongCode()
    let id = try await store.start(text: flow, actor: "ada").session.id
    try await store.send(id, "disable2FA")
    let code = try #require(try await store.lastCode(to: "+15550100001"))
    for guess in 0..<10 {
      let step = try await store.send(
        id, "submitCode", ["code": .string(String(format: "%06d", guess == 0 ? 1 : guess * 7))])
      if step.session.isFinal { break }
      #expect(step.trace.rejection?.kind == "action-failed", "the fresh send fails in the cooldown")
    }
    let right = try await store.send(id, "submitCode", ["code": .string(code)])
    #expect(
      try await store.user("ada").twoFactor.enabled,
      "the right code after 5 failures does not turn 2FA off")
    #expect(right.session.state != "editingPhone")
    let failures = try await store.audit(id).filter { $0.kind == .verificationFailed }
    #expect(failures.count >= 5, "every failed guess is audited: \(failures.count)")
  }

  /// SECURITY.md 25: facts are read at every step. Another session proves a new number and turns
  /// 2FA on; the older session, which disabled 2FA, cannot then save yet another number.
  @Test("a session whose facts changed under it stops", arguments: StoreKind.allCases)
  func factsAreReadAtEveryStep(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let first = try await store.start(ownFlow, actor: "ada").session.id
    try await store.send(first, "disable2FA")
    let code = try #require(try await store.lastCode(to: "+15550100001"))
    try await store.send(first, "submitCode", ["code": .string(code)])
    #expect(try await store.user("ada").twoFactor.enabled == false)

    // A second session of Ada's (2FA is off, so it goes straight to editing) proves a number.
    store.clock.advance(by: 120)
    let second = try await store.start(ownFlow, actor: "ada").session.id
    try await store.send(second, "editPhone", ["phone": .string("+15550107777")])
    try await store.send(second, "save")
    try await store.send(second, "enable2FA")
    let proof = try #require(try await store.lastCode(to: "+15550107777"))
    #expect(
      try await store.send(second, "submitCode", ["code": .string(proof)]).session.outcome
        == "completed")

    let stale = try await store.send(first, "editPhone", ["phone": .string("+15550108888")])
    #expect(stale.trace.rejection == .factsChanged)
    #expect(try await store.send(first, "save").trace.rejection == .factsChanged)
    #expect(try await store.user("ada").phone.e164 == "+15550107777")
  }

  /// SECURITY.md 27.
  @Test("after its maximum age every event is rejected as expired", arguments: StoreKind.allCases)
  func sessionsExpire(_ kind: StoreKind) async throws {
    // The team-member flow declares no deadline: the engine's maximum age ends its sessions.
    let store = try await StoreFixture(kind)
    let id = try await store.start(teamFlow, actor: "ada", target: "tess").session.id
    #expect(try await store.row(id).expiresAt == store.clock.now() + 3_600)
    store.clock.advance(by: 3_599)
    #expect(try await store.send(id, "editPhone", ["phone": .string("+15550107777")]).accepted)
    store.clock.advance(by: 1)
    let late = try await store.send(id, "cancel")
    #expect(late.trace.rejection?.kind == "session-expired")
    #expect(try await store.row(id).state == "phoneEdited")

    // A flow sets its own maximum age.
    let short = try text(teamFlow).replacingOccurrences(
      of: "events:", with: "settings:\n  sessionMaxAge: 15m\n\nevents:")
    let other = try await store.start(text: short, actor: "ada", target: "tess").session
    #expect(other.expiresAt == store.clock.now() + 900)
    store.clock.advance(by: 900)
    #expect(try await store.send(other.id, "cancel").trace.rejection?.kind == "session-expired")
  }

  /// SECURITY.md 20, 28: a row holds no directory phone number or email, and its bytes are
  /// signed.
  @Test("a stored session holds no facts and is signed", arguments: StoreKind.allCases)
  func rowsHoldNoFacts(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await store.start(teamFlow, actor: "ada", target: "tess").session.id
    let edited = try await store.send(id, "editPhone", ["phone": .string("+15550109999")])
    #expect(edited.accepted, "\(edited.trace)")
    let row = try await store.row(id)
    #expect(row.seq == 2)
    let body = String(decoding: row.body, as: UTF8.self)
    for fact in ["+15550100001", "+15550100003", "ada@", "tess@", "admin", "technician"] {
      #expect(!body.contains(fact), "the row holds \(fact)")
    }
    #expect(body.contains("+15550109999"), "the staged number typed in the flow is kept")
    #expect(row.body.count < 96, "compact: \(row.body.count) bytes")
    let flow = try await store.engine.show(session: id).2
    var changed = row.body
    changed[changed.count - 1] ^= 1
    #expect(throws: Session.DecodingError.self) {
      try Session.unpack(changed, id: id, for: flow, key: store.engine.store.sessionKey)
    }
  }

  /// A session continues on the text it started on; a new text serves new sessions.
  @Test("sessions are pinned to their flow text", arguments: StoreKind.allCases)
  func pinning(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let original = try text(ownFlow)
    let old = try await store.start(text: original, actor: "ada").session
    // The product team renames a state and lowers the limit.
    let edited = original.replacingOccurrences(of: "verifyingCurrentNumber", with: "awaitingCode")
      .replacingOccurrences(of: "maxAttempts: 5 ", with: "maxAttempts: 3 ")
    let new = try await store.start(text: edited, actor: "ada").session
    #expect(new.contentHash != old.contentHash)
    let step = try await store.send(old.id, "disable2FA")
    #expect(step.session.state == "verifyingCurrentNumber", "the old text still runs")
    #expect(step.flow.contentHash == old.contentHash)
    store.clock.advance(by: 60)  // past the resend cooldown of the code just sent
    #expect(try await store.send(new.id, "disable2FA").session.state == "awaitingCode")
    let shown = try await store.engine.show(session: old.id)
    #expect(shown.0.contentHash == old.contentHash && shown.0.seq == 2)
  }

  /// SECURITY.md 24.
  @Test("session ids are 128-bit random", arguments: StoreKind.allCases)
  func sessionIDs(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    var ids: Set<String> = []
    for _ in 0..<20 {
      let id = try await store.start(ownFlow, actor: "ada").session.id
      #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
      ids.insert(id)
    }
    #expect(ids.count == 20)
  }
}

/// The own-number flow edited so that a wrong code sends a fresh one at once.
func resendOnWrongCode() throws -> String {
  let original = try text(ownFlow)
  let wrong = """
          - to: verifyingCurrentNumber
            description: A wrong or expired code; try again or resend.
    """
  precondition(original.contains(wrong))
  return original.replacingOccurrences(
    of: wrong,
    with: """
            - to: verifyingCurrentNumber
              description: A wrong code; a fresh one goes out at once.
              do:
                - sendCode: { purpose: disable-2fa, to: target.phone, ttl: settings.codeTtl }
      """)
}

/// SECURITY.md 19, 33: no audit entry is lost, even when steps that roll back run at the same
/// time as steps that commit.
@Suite("Audit under concurrency")
struct AuditConcurrencyTests {
  @Test(
    "every step of many concurrent sessions is audited once, rolled back or not",
    arguments: StoreKind.allCases)
  func noEntryIsLost(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    // Ada's sessions keep asking for a code inside the cooldown (rolled back: action-failed);
    // Ada's team sessions for Tess keep editing (committed).
    let own = try await store.start(ownFlow, actor: "ada").session.id
    try await store.send(own, "disable2FA")
    var team: [String] = []
    for _ in 0..<4 {
      let id = try await store.start(teamFlow, actor: "ada", target: "tess").session.id
      team.append(id)
    }
    let before = try await store.audit().count
    let rounds = 25
    let results = try await withThrowingTaskGroup(of: Bool.self) { group in
      for round in 0..<rounds {
        group.addTask {
          try await store.engine.send(session: own, event: "resendCode", payload: [:]).accepted
        }
        for (index, id) in team.enumerated() {
          group.addTask {
            try await store.engine.send(
              session: id, event: "editPhone",
              payload: ["phone": .string("+1555013\(String(format: "%04d", round * 10 + index))")]
            ).accepted
          }
        }
      }
      var all: [Bool] = []
      for try await accepted in group { all.append(accepted) }
      return all
    }
    #expect(results.count == rounds * 5)
    #expect(results.filter { !$0 }.count == rounds, "every resend inside the cooldown is rejected")
    let entries = try await store.audit().dropFirst(before)
    let steps = entries.filter { $0.kind == .step || $0.kind == .eventRejected }
    #expect(steps.count == rounds * 5, "one entry per step: \(steps.count)")
    for id in team {
      #expect(try await store.row(id).seq == 1 + rounds)
    }
  }

  /// Issue 10: a flow's checks are enforced on every step of every store. The blind-spot
  /// fixture lets `snooze` skip the code; saving with 2FA on then breaks the flow's check, so
  /// the step is rejected as check-violated, audited, and nothing of it is kept.
  @Test(
    "a step that would break a check is rejected and keeps nothing", arguments: StoreKind.allCases)
  func checksAreEnforced(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await store.start("Tests/Fixtures/blind-spots/duration-field.yaml", actor: "ada")
      .session.id
    try await store.send(id, "snooze", ["for": .string("5m")])
    try await store.send(id, "editPhone", ["phone": .string("+15550109999")])
    let before = try await store.row(id).seq
    let step = try await store.send(id, "save")
    #expect(step.trace.rejection?.kind == "check-violated")
    guard case .checkViolated(let check, let reason) = step.trace.rejection else {
      Issue.record("expected check-violated, got \(String(describing: step.trace.rejection))")
      return
    }
    #expect(
      check
        == "a new number is saved while 2FA is on only after a code sent to the current number is verified"
    )
    #expect(reason.contains("performing 'savePhone' although"))
    let ada = try await store.user("ada")
    #expect(ada.phone.e164 == "+15550100001", "the number is not saved")
    #expect(ada.twoFactor.enabled)
    #expect(try await store.row(id).seq == before, "the session did not move")
    #expect(try await store.audit(id).last?.kind == .eventRejected)
    #expect(!(try await store.audit(id)).contains { $0.kind == .phoneChanged })
  }
}
