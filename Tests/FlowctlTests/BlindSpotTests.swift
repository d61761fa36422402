import Foundation
import Testing

/// The checker's former blind spots (issue 10), one fixture each under
/// `Tests/Fixtures/blind-spots`: every one is a valid flow (`validate --no-checks` passes), its
/// checks fail, and every counterexample `check` writes replays with `flowctl run --json` to
/// the violation: a `check-violated` rejection naming the check, or a last state that is the
/// one the liveness check names.
@Suite("the checker's blind spots")
struct BlindSpotTests {
  struct Case: Sendable, CustomTestStringConvertible {
    var fixture: String
    /// A check that must fail.
    var failing: String
    var testDescription: String { fixture }
  }

  static let saveWhileOn =
    "a new number is saved while 2FA is on only after a code sent to the current number is verified"

  static let cases: [Case] = [
    Case(fixture: "trap", failing: "from every state the flow can still end"),
    Case(fixture: "duration-field", failing: saveWhileOn),
    Case(fixture: "int-field", failing: saveWhileOn),
    Case(fixture: "literal-actor-id", failing: saveWhileOn),
    Case(fixture: "email-channel", failing: saveWhileOn),
    Case(fixture: "stale-result", failing: "an admin can complete the change"),
    Case(
      fixture: "timer-leaves-2fa-off",
      failing:
        "an expired session leaves 2FA off only when a new, still unproven number was saved"),
  ]

  @Test(arguments: cases)
  func isCaughtAndReplays(_ spot: Case) throws {
    let flow = "Tests/Fixtures/blind-spots/\(spot.fixture).yaml"
    let validate = try Flowctl.run(["validate", "--no-checks", "--strict", flow])
    #expect(validate.status == 0, "\(validate.stdout)")

    let out = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
    let check = try Flowctl.run(["check", flow, "--counterexample", out.path])
    #expect(check.status == 1)
    #expect(check.stdout.contains("✗ \(spot.failing)\n"), "\(check.stdout)")

    let replays = check.stdout.split(separator: "\n").compactMap { line -> [String]? in
      guard let range = line.range(of: "replay: flowctl ") else { return nil }
      return line[range.upperBound...].split(separator: " ").map(String.init)
    }
    #expect(!replays.isEmpty)
    for replay in replays {
      let run = try Flowctl.run(replay + ["--json"])
      let lines = run.stdout.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      }
      let last = try #require(lines.last)
      let events = try String(
        contentsOfFile: try #require(replay.last), encoding: .utf8)
      let named = events.split(separator: "\n").first { $0.hasPrefix("# Counterexample") }
      let rejected = lines.first { $0["rejection"] as? String == "check-violated" }
      if let rejected {
        #expect(named?.contains("\"\(rejected["check"] as? String ?? "")\"") == true)
      } else if let range = events.range(of: "has a path that reaches '") {
        // canReach: no path gets there, so the replay (the start) never passes through it.
        let state = events[range.upperBound...].prefix { $0 != "'" }
        let passed = lines.flatMap { ($0["path"] as? [String]) ?? [] }
        #expect(!passed.contains(String(state)) && last["state"] as? String != String(state))
      } else {
        // A liveness check: the message names the state the replay stops in.
        let state = try #require(last["state"] as? String)
        #expect(events.contains("'\(state)'"), "\(events)\n\(run.stdout)")
      }
    }
  }
}
