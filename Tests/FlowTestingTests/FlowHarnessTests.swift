import AccountSecurity
import FlowEngine
import FlowTesting
import Foundation
import Testing

@Suite("FlowHarness")
struct FlowHarnessTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent()

  static func world() throws -> AccountSecurityState {
    try #require(WorldFile.load(path: root.appendingPathComponent("examples/team.yaml").path).state)
  }

  static func harness(_ flow: String, actor: String, target: String? = nil) throws -> FlowHarness {
    try FlowHarness(
      flow: root.appendingPathComponent(flow).path, world: world(), actor: actor, target: target)
  }

  @Test func stepsThroughTheOwnNumberFlow() throws {
    let harness = try Self.harness("flows/update-own-2fa-phone.yaml", actor: "ada")
    harness.expectState("securityCenter")
    #expect(harness.availableEvents == ["cancel", "disable2FA", "reportNoAccess"])
    harness.expectAccepted(harness.send("disable2FA"))
    #expect(harness.inbox(of: "+1 555 010 0001").count == 1)
    let code = try #require(harness.receivedCode)
    let verified = harness.send("submitCode", ["code": .string(code)])
    harness.expectEffects(verified, ["verifyCode", "disableTwoFactor"])
    harness.expectState("editingPhone")
    harness.expectRejected(harness.send("enable2FA"), kind: "not-accepted")
    harness.send("editPhone", ["phone": .string("+15550109999")])
    harness.send("save")
    harness.send("enable2FA")
    harness.send("submitCode", ["code": .string("$received")])
    harness.expectOutcome("completed")
    #expect(harness.world.users["ada"]?.phone.e164 == "+15550109999")
    #expect(harness.transcript.contains("disable2FA: securityCenter → verifyingCurrentNumber"))
  }

  @Test func clockAndSnapshots() throws {
    let harness = try Self.harness("flows/update-own-2fa-phone.yaml", actor: "ada")
    harness.send("disable2FA")
    let saved = harness.snapshot()
    harness.advance("11m")
    harness.send("submitCode", ["code": .string("$received")])
    harness.expectState("verifyingCurrentNumber")  // expired
    try harness.restore(saved)
    harness.expectState("verifyingCurrentNumber")
    #expect(harness.snapshot() == saved)
  }

  @Test func failedAssertionsPrintTheTrace() throws {
    let harness = try Self.harness(
      "flows/update-team-member-2fa-phone.yaml", actor: "tess", target: "mia")
    withKnownIssue {
      harness.expectState("editingPhone")
    } matching: { issue in
      let text = issue.comments.map(\.rawValue).joined()
      return text.contains("expected state 'editingPhone', the session is in 'denied'")
        && text.contains("start: checkingAccess → denied")
    }
  }

  @Test func invalidFlowIsASetupError() throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent(
      "\(UUID().uuidString).yaml")
    try Data("flow: x\n".utf8).write(to: file)
    #expect(throws: FlowHarness.SetupError.self) {
      try FlowHarness(flow: file.path, world: Self.world(), actor: "ada")
    }
  }
}
