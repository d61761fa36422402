import Foundation
import Testing

/// `flowctl run` on the shipped flows, world and scripts: exit codes and JSON lines.
@Suite("flowctl run")
struct RunCommandTests {
  static let own = "flows/update-own-2fa-phone.yaml"
  static let team = "flows/update-team-member-2fa-phone.yaml"
  static let world = "examples/team.yaml"

  struct Lines {
    var events: [[String: Any]]
    var end: [String: Any]
  }

  /// Splits `--json` output into the event lines and the final line.
  static func parse(_ stdout: String) throws -> Lines {
    let objects = try stdout.split(separator: "\n").map { line in
      try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
    let end = try #require(objects.last)
    return Lines(events: Array(objects.dropLast()), end: end)
  }

  static func run(_ flow: String, actor: String, target: String? = nil, events: String?) throws
    -> Flowctl.Result
  {
    var arguments = ["run", flow, "--world", world, "--actor", actor, "--json"]
    if let target { arguments += ["--target", target] }
    if let events { arguments += ["--events", events] }
    return try Flowctl.run(arguments)
  }

  static func script(_ text: String) throws -> String {
    try Flowctl.temporaryFile(text, name: "events.yaml").path
  }

  @Test func ownNumberHappyPath() throws {
    let result = try Self.run(Self.own, actor: "ada", events: "examples/own-number-happy-path.yaml")
    #expect(result.status == 0, "\(result.stderr)")
    let lines = try Self.parse(result.stdout)
    #expect(lines.events.count == 6)
    #expect(lines.events.allSatisfy { $0["accepted"] as? Bool == true })
    #expect(
      lines.events.map { $0["event"] as? String } == [
        "disable2FA", "submitCode", "editPhone", "save", "enable2FA", "submitCode",
      ])
    #expect(lines.events[0]["from"] as? String == "securityCenter")
    #expect(lines.events[0]["to"] as? String == "verifyingCurrentNumber")
    #expect(lines.events[1]["to"] as? String == "editingPhone")
    let effects = try #require(lines.events[1]["effects"] as? [[String: Any]])
    #expect(effects.map { $0["action"] as? String } == ["verifyCode", "disableTwoFactor"])
    let guards = try #require(lines.events[1]["guards"] as? [[String: Any]])
    #expect(guards.first?["guard"] as? String == "codeAccepted")
    #expect(guards.first?["value"] as? Bool == true)
    #expect(lines.end["state"] as? String == "completed")
    #expect(lines.end["final"] as? Bool == true)
    #expect(lines.end["outcome"] as? String == "completed")
    #expect(!result.stdout.contains("+15550109999"), "numbers are masked")
  }

  @Test func readableTraceByDefault() throws {
    let result = try Flowctl.run([
      "run", Self.own, "--world", Self.world, "--actor", "ada", "--events",
      "examples/own-number-happy-path.yaml",
    ])
    #expect(result.status == 0)
    #expect(result.stdout.contains("▸ disable2FA  securityCenter → verifyingCurrentNumber"))
    #expect(result.stdout.contains("guard   codeAccepted → true"))
    #expect(result.stdout.contains("✉ sms to +1******0001"))
    #expect(result.stdout.contains("■ final state completed, outcome completed"))
    #expect(!result.stdout.contains("\u{1B}["), "no color when piped")
  }

  @Test func outOfOrderEventIsRejected() throws {
    let result = try Self.run(
      Self.own, actor: "ada", events: "examples/own-number-out-of-order.yaml")
    #expect(result.status == 3)
    let lines = try Self.parse(result.stdout)
    let first = lines.events[0]
    #expect(first["accepted"] as? Bool == false)
    #expect(first["rejection"] as? String == "not-accepted")
    #expect(
      first["reason"] as? String
        == "event 'editPhone' is not accepted in state 'securityCenter'; it accepts: cancel, disable2FA, reportNoAccess"
    )
    #expect(first["from"] as? String == "securityCenter")
    #expect(first["to"] as? String == "securityCenter")
    #expect(lines.end["outcome"] as? String == "needs-support")
  }

  /// Dry runs go through the same engine as a store: a session of a flow without a deadline,
  /// past its maximum age (an hour by default), rejects every event, and nothing changes.
  @Test func dryRunSessionsExpire() throws {
    let events = try Self.script(
      """
      - editPhone: { phone: "+15550107777" }
      - wait: 59m
      - cancel
      """)
    let inTime = try Self.run(Self.team, actor: "ada", target: "tess", events: events)
    #expect(inTime.status == 0, "\(inTime.stdout)")
    let late = try Self.script(
      """
      - editPhone: { phone: "+15550107777" }
      - wait: 1h
      - cancel
      """)
    let result = try Self.run(Self.team, actor: "ada", target: "tess", events: late)
    #expect(result.status == 3)
    let lines = try Self.parse(result.stdout)
    #expect(lines.events.last?["rejection"] as? String == "session-expired")
    #expect(lines.end["state"] as? String == "phoneEdited")
  }

  /// A wait fires the timers that fall due during it, in order, and the trace shows each.
  @Test func waitFiresTimers() throws {
    let events = try Self.script(
      """
      - disable2FA
      - submitCode: { code: $received }
      - wait: 14m
      - editPhone: { phone: "+15550107777" }
      - wait: 16m
      """)
    let text = try Flowctl.run(
      ["run", Self.own, "--world", "examples/team.yaml", "--actor", "ada", "--events", events])
    #expect(text.status == 0, "\(text.stdout)")
    #expect(text.stdout.contains("⏱ after 15m in phoneEdited → expired"), "\(text.stdout)")
    #expect(text.stdout.contains("■ final state expired, outcome expired"))
    let json = try Self.run(Self.own, actor: "ada", events: events)
    let lines = try Self.parse(json.stdout)
    let timer = try #require(lines.events.last)
    #expect(timer["timer"] as? String == "after 15m in phoneEdited")
    #expect(timer["to"] as? String == "expired")
    #expect(lines.end["outcome"] as? String == "expired")
  }

  @Test func waitPastExpiry() throws {
    let result = try Self.run(
      Self.own, actor: "ada", events: "examples/own-number-expired-code.yaml")
    #expect(result.status == 0, "\(result.stdout)")
    let lines = try Self.parse(result.stdout)
    let late = lines.events[1]
    #expect(late["event"] as? String == "submitCode")
    #expect(late["accepted"] as? Bool == true, "a late code is an attempt, not a rejected event")
    #expect(late["to"] as? String == "verifyingCurrentNumber")
    let effects = try #require(late["effects"] as? [[String: Any]])
    let results = try #require(effects.first?["results"] as? [String: String])
    #expect(results["ok"] == "false")
    #expect(lines.events[3]["to"] as? String == "editingPhone", "the resent code works")
    #expect(lines.end["outcome"] as? String == "completed")
  }

  @Test func lockout() throws {
    let result = try Self.run(Self.own, actor: "ada", events: "examples/own-number-lockout.yaml")
    #expect(result.status == 0)
    let lines = try Self.parse(result.stdout)
    #expect(lines.end["outcome"] as? String == "locked")
    #expect(lines.events.count == 6)
  }

  @Test func teamMemberChange() throws {
    let result = try Self.run(
      Self.team, actor: "ada", target: "tess", events: "examples/team-member-change.yaml")
    #expect(result.status == 0)
    let lines = try Self.parse(result.stdout)
    #expect(lines.end["outcome"] as? String == "completed")
    let deliveries = try #require(lines.events.last?["deliveries"] as? [[String: String]])
    #expect(deliveries.map { $0["channel"] } == ["sms", "email"])
    #expect(deliveries.first?["to"] == "+1******0003", "the member's old number, masked")
  }

  @Test(
    "each way to denied",
    arguments: [
      (RunCommandTests.team, "tess", "mia"), (RunCommandTests.team, "mia", "tess"),
      (RunCommandTests.team, "ada", "gina"), (RunCommandTests.team, "gus", "tess"),
      (RunCommandTests.team, "ada", "ada"), (RunCommandTests.own, "tess", "tess"),
      (RunCommandTests.own, "ada", "alan"),
    ])
  func denied(_ flow: String, _ actor: String, _ target: String) throws {
    let none = try Self.script("[]\n")
    let result = try Self.run(flow, actor: actor, target: target, events: none)
    #expect(result.status == 0)
    let lines = try Self.parse(result.stdout)
    #expect(lines.events.isEmpty)
    #expect(lines.end["outcome"] as? String == "denied")
    let afterwards = try Self.run(
      flow, actor: actor, target: target, events: "examples/team-member-change.yaml")
    #expect(afterwards.status == 3)
    #expect(
      try Self.parse(afterwards.stdout).events.first?["rejection"] as? String == "session-ended")
  }

  @Test func endingInANonFinalStateExitsTwo() throws {
    let events = try Self.script("- disable2FA\n")
    let result = try Self.run(Self.own, actor: "ada", events: events)
    #expect(result.status == 2)
    let lines = try Self.parse(result.stdout)
    #expect(lines.end["final"] as? Bool == false)
    #expect(lines.end["state"] as? String == "verifyingCurrentNumber")
    #expect(lines.end["outcome"] == nil)
  }

  @Test func invalidPhoneNamesTheField() throws {
    let events = try Self.script("- editPhone: { phone: \"555-CALL\" }\n")
    let result = try Self.run(Self.team, actor: "ada", target: "tess", events: events)
    #expect(result.status == 3)
    let first = try #require(try Self.parse(result.stdout).events.first)
    #expect(first["rejection"] as? String == "invalid-payload")
    #expect((first["reason"] as? String ?? "").contains("field 'phone'"))
  }

  @Test func badWorldFileIsReportedWithItsPosition() throws {
    let world = try Flowctl.temporaryFile(
      """
      accounts:
        - { id: acme, name: Acme }
      users:
        - id: ada
          name: Ada
          role: admn
          account: acme
          phone: "+15550100001"
          email: ada@acme.example
          twoFactor: { enabled: true }

      """, name: "world.yaml")
    let result = try Flowctl.run(
      [
        "run", Flowctl.packageRoot.appendingPathComponent(Self.own).path, "--world", "world.yaml",
        "--actor", "ada",
      ],
      in: world.deletingLastPathComponent())
    #expect(result.status == 1)
    #expect(
      result.stderr.hasPrefix(
        "world.yaml:6:11: error[E010]: 'admn' is not a role (did you mean 'admin'?); roles: admin, manager, technician"
      ))
  }

  @Test func badEventsFileIsReportedWithItsPosition() throws {
    let events = try Flowctl.temporaryFile("- disable2FA\n- wait: soon\n", name: "events.yaml")
    let result = try Flowctl.run([
      "run", Self.own, "--world", Self.world, "--actor", "ada", "--events", events.path,
    ])
    #expect(result.status == 1)
    #expect(result.stderr.contains("events.yaml:2:9: error[E007]: wait must be a duration"))
    #expect(result.stdout.isEmpty, "nothing runs")
  }

  @Test func unknownUserIsNamed() throws {
    let result = try Flowctl.run(["run", Self.own, "--world", Self.world, "--actor", "adda"])
    #expect(result.status == 1)
    #expect(result.stderr.contains("unknown user 'adda' (did you mean 'ada'?)"))
    let target = try Flowctl.run([
      "run", Self.team, "--world", Self.world, "--actor", "ada", "--target", "nobody",
    ])
    #expect(target.status == 1)
    #expect(target.stderr.contains("unknown user 'nobody'"))
  }

  @Test func invalidFlowIsReportedLikeValidate() throws {
    let flow = try Flowctl.temporaryFile("flow: x\nversion: one\n")
    let result = try Flowctl.run(["run", flow.path, "--world", Self.world, "--actor", "ada"])
    #expect(result.status == 1)
    #expect(result.stderr.contains(":2:10: error[E007]: version must be a whole number"))
  }

  @Test(
    "every command's help explains its options with an example",
    arguments: [["--help"], ["validate", "--help"], ["run", "--help"], ["graph", "--help"]])
  func help(_ arguments: [String]) throws {
    let result = try Flowctl.run(arguments)
    #expect(result.status == 0)
    #expect(result.stdout.contains("flowctl"))
    if arguments.count > 1 {
      #expect(result.stdout.contains("Examples:"))
      #expect(result.stdout.contains("OPTIONS:"))
    }
  }
}
