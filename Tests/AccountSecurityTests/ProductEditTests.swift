import AccountSecurity
import FlowEngine
import Testing

/// A product team reorders the procedure in YAML only; the same services run it.
@Suite("Product edits")
struct ProductEditTests {
  static let path = "Tests/Fixtures/flows/update-own-2fa-phone-verify-first.yaml"

  @Test("the new number is verified before 2FA is ever off, then swapped in one step")
  func verifyFirstSwap() throws {
    var run = try Harness(Self.path, actor: "ada", target: "ada")
    let newNumber = "+15550109999"
    #expect(run.session.state == "editingPhone")
    #expect(run.send("editPhone", ["phone": .string(newNumber)]).accepted)
    #expect(run.user("ada").twoFactor.enabled)
    let newCode = try #require(run.lastCode(to: newNumber))
    #expect(run.send("submitCode", ["code": .string(newCode)]).accepted)
    #expect(run.session.state == "provingCurrentNumber")
    #expect(run.user("ada").twoFactor.enabled, "2FA is still on")
    #expect(run.user("ada").phone.e164 == "+15550100001", "nothing saved yet")
    let oldCode = try #require(run.lastCode(to: "+15550100001"))
    let done = run.send("submitCode", ["code": .string(oldCode)])
    #expect(done.accepted)
    #expect(run.session.outcome == "completed")
    #expect(
      done.effects.map(\.action) == [
        "verifyCode", "disableTwoFactor", "savePhone", "enableTwoFactor",
      ])
    let ada = run.user("ada")
    #expect(ada.twoFactor.enabled)
    #expect(ada.phone.e164 == newNumber)
    #expect(ada.phoneVerified)
  }

  @Test("a failing action in the swap keeps nothing of the step")
  func swapIsAtomic() throws {
    var run = try Harness(Self.path, actor: "ada", target: "ada")
    run.send("editPhone", ["phone": .string("+15550109999")])
    run.send("submitCode", ["code": .string(run.lastCode(to: "+15550109999")!)])
    let code = try #require(run.lastCode(to: "+15550100001"))
    let session = run.session.encoded()
    let before = run.state
    // verifyCode and disableTwoFactor succeed within the step; then savePhone fails.
    run.services.failNext("savePhone", message: "the profile store is unavailable")
    let trace = run.send("submitCode", ["code": .string(code)])
    #expect(
      trace.rejection
        == .actionFailed(action: "savePhone", message: "the profile store is unavailable"))
    #expect(run.session.encoded() == session, "the session is as it was")
    var after = run.state
    #expect(after.audit.count == before.audit.count + 1, "only the rejection is recorded")
    after.audit = before.audit
    #expect(
      after == before, "the verification, the disable and the rest of the step are rolled back")
    #expect(run.user("ada").twoFactor.enabled)
    // The same code still works: the failed step did not spend it.
    let retry = run.send("submitCode", ["code": .string(code)])
    #expect(retry.accepted)
    #expect(run.session.outcome == "completed")
  }
}
