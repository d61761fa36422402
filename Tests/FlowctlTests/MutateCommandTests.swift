import Foundation
import Testing

/// `flowctl mutate` on a shipped flow (the team-member flow: fast enough for a debug build).
@Suite("flowctl mutate")
struct MutateCommandTests {
  static let team = "flows/update-team-member-2fa-phone.yaml"

  @Test func scoresTheShippedFlowAndNamesItsSurvivors() throws {
    let result = try Flowctl.run(["mutate", Self.team, "--json", "--min-score", "0.95"])
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    let killed = try #require(object["killed"] as? Int)
    let survived = try #require(object["survived"] as? Int)
    let score = try #require(object["score"] as? Double)
    #expect(killed > 50)
    #expect(abs(score - Double(killed) / Double(killed + survived)) < 0.0001)
    #expect(score >= 0.95)
    let survivors = try #require(object["survivors"] as? [[String: Any]])
    #expect(survivors.count == survived)
    // The only survivors swap two transitions that both deny with the same audit entry.
    for survivor in survivors {
      #expect(survivor["kind"] as? String == "swap-transitions")
      #expect((survivor["location"] as? String)?.hasPrefix("\(Self.team):") == true)
      #expect(!((survivor["diff"] as? [String]) ?? []).isEmpty)
    }
  }

  @Test func belowTheMinimumScoreExitsOne() throws {
    let result = try Flowctl.run(["mutate", Self.team, "--min-score", "1"])
    #expect(result.status == 1)
    #expect(result.stdout.contains("survived: swap checkingAccess always #1 → denied"))
    #expect(result.stdout.contains("score 96.7%"))
  }

  /// Without its checks and scenarios, mistakes survive: the score measures them.
  @Test func aFlowWithoutChecksOrScenariosScoresLow() throws {
    let text = try String(
      contentsOf: Flowctl.packageRoot.appendingPathComponent(Self.team), encoding: .utf8)
    let checks = try #require(text.range(of: "\nchecks:\n"))
    let flow = try Flowctl.temporaryFile(String(text[..<checks.lowerBound]) + "\n")
    let result = try Flowctl.run(["mutate", flow.path, "--json"])
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    #expect((object["score"] as? Double ?? 1) < 0.5)
  }
}
