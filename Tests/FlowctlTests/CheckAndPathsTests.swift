import Foundation
import Testing

/// `flowctl check`, `flowctl paths` and `flowctl test` on real files.
@Suite("flowctl check, paths and test")
struct CheckAndPathsTests {
  static let own = "flows/update-own-2fa-phone.yaml"
  static let team = "flows/update-team-member-2fa-phone.yaml"

  @Test func shippedFlowsPassTheirChecks() throws {
    let result = try Flowctl.run(["check", Self.own, Self.team])
    #expect(result.status == 0, "\(result.stdout)")
    #expect(
      result.stdout.contains(
        "✓ a new number is saved while 2FA is on only after a code sent to the current number is verified"
      ))
    #expect(
      result.stdout.contains(
        "✓ a number changes only when the actor is an admin of the member's account and not the member"
      ))
    #expect(result.stdout.hasSuffix("15 passed, 0 failed\n"))
  }

  /// The acceptance test of the checks: without the code-verification guard, a wrong code
  /// disables 2FA; the counterexample replays with `flowctl run`. (The check on saving "while
  /// 2FA is on" holds: facts are read at every step, so once 2FA is off the save is not one
  /// made while 2FA is on.)
  @Test func removingTheCodeGuardIsCaughtAndReplayable() throws {
    let original = try String(
      contentsOf: Flowctl.packageRoot.appendingPathComponent(Self.own), encoding: .utf8)
    let guarded = """
            - to: editingPhone
              when: codeAccepted
      """
    #expect(original.contains(guarded))
    let broken = original.replacingOccurrences(of: guarded, with: "      - to: editingPhone")
    let flow = try Flowctl.temporaryFile(broken, name: "broken.yaml")
    let out = flow.deletingLastPathComponent().appendingPathComponent("counterexamples")
    let check = try Flowctl.run(["check", flow.path, "--counterexample", out.path])
    #expect(check.status == 1)
    #expect(
      check.stdout.contains(
        "✗ 2FA is turned off only with a verified code sent to the current number"))
    #expect(
      check.stdout.contains("performing 'disableTwoFactor' although codeAccepted → false"))
    // The two transitions after the unguarded one can no longer be taken: gaps, not proofs.
    #expect(
      check.stdout.contains(
        "the transition from 'checkingCurrentCode' (always) to 'locked' is never taken on any explored path"
      ))
    #expect(check.stdout.hasSuffix("9 passed, 3 failed\n"))

    let folder = out.appendingPathComponent("update-own-2fa-phone-check-2")
    let events = try String(
      contentsOf: folder.appendingPathComponent("events.yaml"), encoding: .utf8)
    #expect(events.contains("- submitCode: { code: \"000000\" }"))
    let replay = try Flowctl.run([
      "run", flow.path, "--world", folder.appendingPathComponent("world.yaml").path, "--actor",
      "admin-2fa-north",
      "--events", folder.appendingPathComponent("events.yaml").path, "--json",
    ])
    let lines = replay.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    let effects = lines.flatMap { ($0["effects"] as? [[String: Any]]) ?? [] }
    #expect(!effects.contains { $0["action"] as? String == "verifyCode" }, "the step kept nothing")
    // The engine enforces the check: the step that would turn 2FA off with a wrong code is
    // rejected as check-violated, and nothing of it is kept.
    let rejected = try #require(lines.first { $0["rejection"] as? String == "check-violated" })
    #expect(rejected["event"] as? String == "submitCode")
    #expect(
      rejected["check"] as? String
        == "2FA is turned off only with a verified code sent to the current number")
    #expect(lines.last?["state"] as? String == "verifyingCurrentNumber")
  }

  @Test func validateRunsTheChecks() throws {
    let result = try Flowctl.run([
      "validate", "Tests/Fixtures/invalid/check-fails-without-code-guard.yaml",
    ])
    #expect(result.status == 1)
    #expect(
      result.stdout.contains("error[E032]: check '2FA is turned off only with a verified code"))
  }

  @Test("every scenario written by paths --emit passes under test", arguments: [own, team])
  func emittedPathsPass(_ flow: String) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
    let paths = try Flowctl.run(["paths", flow, "--emit", directory.path])
    #expect(paths.status == 0)
    #expect(!paths.stdout.contains("unreachable"), "\(paths.stdout)")
    let test = try Flowctl.run(["test", directory.path, "--coverage"])
    #expect(test.status == 0, "\(test.stdout)")
    let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
      $0 != "world.yaml"
    }
    #expect(test.stdout.hasSuffix("\(files.count) passed, 0 failed\n"))
    #expect(test.stdout.contains("  transitions"))
    #expect(!test.stdout.contains("never taken"))
  }

  @Test func failingScenarioReportsWhereAndWritesJUnit() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let root = Flowctl.packageRoot.path
    let scenario = """
      scenario: wrong expectation
      flow: \(root)/flows/update-own-2fa-phone.yaml
      world: \(root)/examples/team.yaml
      actor: ada
      steps:
        - send: disable2FA
          expect: { state: editingPhone }

      """
    try Data(scenario.utf8).write(to: directory.appendingPathComponent("wrong.yaml"))
    let junit = directory.appendingPathComponent("report.xml")
    let result = try Flowctl.run(["test", directory.path, "--junit", junit.path])
    #expect(result.status == 1)
    #expect(result.stdout.contains("✗ wrong expectation"))
    #expect(
      result.stdout.contains(
        "wrong.yaml:7:13: expected state 'editingPhone', but the session is in 'verifyingCurrentNumber'"
      ))
    #expect(result.stdout.hasSuffix("0 passed, 1 failed\n"))
    let xml = try String(contentsOf: junit, encoding: .utf8)
    #expect(xml.contains("<testsuites name=\"flowctl test\" tests=\"1\" failures=\"1\""))
    #expect(xml.contains("<failure message=\"expected state &apos;editingPhone&apos;"))
  }
}
