import AccountSecurity
import FlowEngine
import Testing

/// "Updating your 2FA phone number (primary admin)", run by the engine.
@Suite("Own number flow")
struct OwnNumberFlowTests {
  static let newNumber = "+15550109999"

  @Test("with 2FA on: disable with a code, edit, save, re-enable with a code to the new number")
  func happyPath() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    #expect(run.session.state == "securityCenter")
    let routesBefore = run.state.routes

    #expect(run.send("disable2FA").accepted)
    #expect(run.session.state == "verifyingCurrentNumber")
    let oldCode = try #require(
      run.lastCode(to: "+15550100001"), "a code goes to the current number")
    #expect(oldCode.count == 6)

    let verified = run.send("submitCode", ["code": .string(oldCode)])
    #expect(verified.accepted)
    #expect(run.session.state == "editingPhone")
    #expect(run.user("ada").twoFactor.enabled == false)

    #expect(run.send("editPhone", ["phone": .string(Self.newNumber)]).accepted)
    #expect(run.send("save").accepted)
    #expect(run.user("ada").phone.e164 == Self.newNumber)
    #expect(run.session.state == "phoneSaved")

    #expect(run.send("enable2FA").accepted)
    let newCode = try #require(run.lastCode(to: Self.newNumber), "a code goes to the new number")
    #expect(
      run.user("ada").twoFactor.enabled == false, "2FA is on only after the new number is proven")

    let done = run.send("submitCode", ["code": .string(newCode)])
    #expect(done.accepted)
    #expect(run.session.state == "completed")
    #expect(run.session.outcome == "completed")
    #expect(done.outcome == "completed")

    let ada = run.user("ada")
    #expect(ada.phone.e164 == Self.newNumber)
    #expect(ada.twoFactor.enabled)
    #expect(ada.phoneVerified)
    #expect(run.state.routes == routesBefore, "changing the 2FA number never changes call routing")
    #expect(run.state.route(for: "+15550199000") == "ada")

    let kinds = run.state.audit.map(\.kind)
    for kind in [
      AuditEntry.Kind.codeSent, .verificationSucceeded, .twoFactorDisabled, .phoneChanged,
      .twoFactorEnabled,
    ] {
      #expect(kinds.contains(kind), "audit has \(kind)")
    }
    #expect(
      kinds.filter { $0 == .step }.count == 7,
      "every step is in the audit log: start and six events")
    for entry in run.state.audit {
      #expect(entry.actor == "ada")
      #expect(entry.target == "ada")
      #expect(entry.account == "acme")
      #expect(entry.flow == "update-own-2fa-phone")
      #expect(entry.session == "session-1")
      #expect(entry.time.hasSuffix("Z"))
    }
  }

  @Test("with 2FA off the flow goes straight to editing")
  func twoFactorOffStartsAtEditing() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "alan", target: "alan")
    #expect(run.session.state == "editingPhone")
    #expect(run.send("editPhone", ["phone": .string(Self.newNumber)]).accepted)
    #expect(run.send("save").accepted)
    #expect(run.send("enable2FA").accepted)
    let code = try #require(run.lastCode(to: Self.newNumber))
    #expect(run.send("submitCode", ["code": .string(code)]).accepted)
    #expect(run.session.outcome == "completed")
    #expect(run.user("alan").twoFactor.enabled)
  }

  @Test("a wrong code is counted, and at the limit the flow ends locked")
  func lockout() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    run.send("disable2FA")
    let right = try #require(run.lastCode(to: "+15550100001"))
    let wrong = right == "000000" ? "111111" : "000000"
    for attempt in 1...4 {
      let trace = run.send("submitCode", ["code": .string(wrong)])
      #expect(trace.accepted, "a wrong code is an accepted attempt, not a rejected event")
      #expect(run.session.state == "verifyingCurrentNumber")
      #expect(run.session.value("verifyCode.failures") == .int(attempt))
    }
    run.send("submitCode", ["code": .string(wrong)])
    #expect(run.session.state == "locked")
    #expect(run.session.outcome == "locked")
    #expect(run.user("ada").twoFactor.enabled, "2FA stays on")
    #expect(run.state.audit.contains { $0.kind == .verificationLocked })
  }

  @Test("a resend does not reset the count, and invalidates the old code")
  func resend() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    run.send("disable2FA")
    let first = try #require(run.lastCode(to: "+15550100001"))
    let wrong = first == "000000" ? "111111" : "000000"
    run.send("submitCode", ["code": .string(wrong)])
    run.send("submitCode", ["code": .string(wrong)])
    run.clock.advance(by: 31)
    #expect(run.send("resendCode").accepted)
    let second = try #require(run.lastCode(to: "+15550100001"))
    #expect(second != first)
    run.send("submitCode", ["code": .string(first)])
    #expect(run.session.state == "verifyingCurrentNumber", "the old code no longer works")
    #expect(
      run.session.value("verifyCode.failures") == .int(3), "the count goes on across the resend")
    run.send("submitCode", ["code": .string(second)])
    #expect(run.session.state == "editingPhone")
  }

  @Test("a resend inside the cooldown is refused with the time left, and changes nothing")
  func resendCooldown() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    run.send("disable2FA")
    run.clock.advance(by: 10)
    let before = run.state
    let sessionBefore = run.session.encoded()
    let trace = run.send("resendCode")
    guard case .actionFailed(let action, let message) = trace.rejection else {
      Issue.record("expected a refused send, got \(String(describing: trace.rejection))")
      return
    }
    #expect(action == "sendCode")
    #expect(message.contains("wait 20s"))
    #expect(run.session.encoded() == sessionBefore)
    var after = run.state
    after.audit = before.audit
    #expect(after == before, "nothing of the refused step is kept")
  }

  @Test("a code used after its time to live fails")
  func expiry() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    run.send("disable2FA")
    let code = try #require(run.lastCode(to: "+15550100001"))
    run.clock.advance(by: 10 * 60 + 1)
    run.send("submitCode", ["code": .string(code)])
    #expect(run.session.state == "verifyingCurrentNumber")
    #expect(run.session.value("verifyCode.ok") == .bool(false))
    #expect(run.user("ada").twoFactor.enabled)
  }

  @Test("a code works once")
  func singleUse() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    run.send("disable2FA")
    let code = try #require(run.lastCode(to: "+15550100001"))
    run.send("submitCode", ["code": .string(code)])
    #expect(run.session.state == "editingPhone")
    // A second session of the same user tries the spent code.
    let services = run.services
    let facts = try services.facts(actor: "ada", target: "ada").get()
    services.update { $0.users["ada"]?.twoFactor.enabled = true }
    let fresh = FlowRunner(flow: run.flow, services: services, clock: run.clock)
    let facts2 = try services.facts(actor: "ada", target: "ada").get()
    #expect(facts["actor.twoFactor.enabled"] == .bool(false))
    var second = try fresh.start(sessionID: "session-2", facts: facts2).session
    run.clock.advance(by: 60)
    second = try fresh.send(second, "disable2FA").session
    second = try fresh.send(second, "submitCode", ["code": .string(code)]).session
    #expect(second.state == "verifyingCurrentNumber", "a spent code fails")
  }

  @Test("no access to the current number ends in contact support, number unchanged")
  func reportNoAccess() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    #expect(run.send("reportNoAccess").accepted)
    #expect(run.session.outcome == "needs-support")
    #expect(run.user("ada").phone.e164 == "+15550100001")
    #expect(run.state.audit.contains { $0.kind == .supportRequested })

    var later = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    later.send("disable2FA")
    #expect(later.send("reportNoAccess").accepted)
    #expect(later.session.outcome == "needs-support")
    #expect(later.user("ada").twoFactor.enabled)
  }

  @Test(
    "out-of-order events are rejected naming the state and what it accepts; the session is unchanged",
    arguments: [
      ([], "editPhone", "securityCenter", ["cancel", "disable2FA", "reportNoAccess"]),
      ([], "save", "securityCenter", ["cancel", "disable2FA", "reportNoAccess"]),
      ([], "enable2FA", "securityCenter", ["cancel", "disable2FA", "reportNoAccess"]),
      ([], "submitCode", "securityCenter", ["cancel", "disable2FA", "reportNoAccess"]),
      (
        ["disable2FA"], "editPhone", "verifyingCurrentNumber",
        ["cancel", "reportNoAccess", "resendCode", "submitCode"]
      ),
      (["disable2FA", "*code"], "enable2FA", "editingPhone", ["cancel", "editPhone"]),
      (["disable2FA", "*code"], "save", "editingPhone", ["cancel", "editPhone"]),
      (
        ["disable2FA", "*code", "editPhone"], "enable2FA", "phoneEdited",
        ["cancel", "editPhone", "save"]
      ),
    ] as [([String], String, String, [String])])
  func outOfOrder(_ before: [String], _ event: String, _ state: String, _ accepted: [String]) throws
  {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    for step in before {
      switch step {
      case "*code": run.send("submitCode", ["code": .string(run.lastCode(to: "+15550100001")!)])
      case "editPhone": run.send("editPhone", ["phone": .string(Self.newNumber)])
      default: run.send(step)
      }
    }
    #expect(run.session.state == state)
    let bytes = run.session.encoded()
    let world = run.state.users
    let payload: [String: Value] =
      switch event {
      case "submitCode": ["code": .string("123456")]
      case "editPhone": ["phone": .string(Self.newNumber)]
      default: [:]
      }
    let trace = run.send(event, payload)
    #expect(trace.rejection == .notAccepted(event: event, state: state, accepted: accepted))
    #expect("\(trace.rejection!)".contains(state))
    #expect(run.session.encoded() == bytes, "the encoded snapshot is byte-for-byte unchanged")
    #expect(run.state.users == world)
    #expect(run.state.audit.last?.kind == .eventRejected, "the rejection is recorded")
  }

  @Test("a non-admin, or an admin on someone else's number, is denied")
  func denied() throws {
    let technician = try Harness(Harness.ownFlowPath, actor: "tess", target: "tess")
    #expect(technician.session.outcome == "denied")
    let other = try Harness(Harness.ownFlowPath, actor: "ada", target: "tess")
    #expect(other.session.outcome == "denied")
  }

  @Test("an invalid phone is rejected naming the field, and nothing changes")
  func invalidPhone() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "alan", target: "alan")
    let bytes = run.session.encoded()
    for bad in ["5550100002", "+1 555 CALL NOW", "+1234", "+1234567890123456"] {
      let trace = run.send("editPhone", ["phone": .string(bad)])
      guard case .invalidPayload(let event, let field, _) = trace.rejection else {
        Issue.record("\(bad) was not rejected: \(String(describing: trace.rejection))")
        continue
      }
      #expect(event == "editPhone")
      #expect(field == "phone")
      #expect(run.session.encoded() == bytes)
    }
    let missing = run.send("editPhone")
    #expect(
      missing.rejection
        == .invalidPayload(event: "editPhone", field: "phone", problem: "is missing"))
    #expect(run.user("alan").phone.e164 == "+15550100002")
  }
}
