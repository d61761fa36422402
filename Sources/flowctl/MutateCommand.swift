import AccountSecurity
import ArgumentParser
import FlowEngine
import Foundation

/// `flowctl mutate`: how many of the mistakes people make do a flow's checks and scenarios
/// notice?
struct MutateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mutate",
    abstract: "Score a flow's checks and scenarios by the mistakes they catch (mutation testing).",
    discussion: """
      Makes every mistake of these kinds, one at a time: drop or negate a guard, drop an
      action, send a transition to another state, swap two transitions of a list, drop an
      event handler of a state. Each mistake that still validates (a mutant) is run against
      the flow's checks (as flowctl check does) and its scenarios: it is killed when a check
      fails or a scenario fails, and survives otherwise. Mistakes the validator refuses are
      counted apart; they are caught already.

      The score is killed / (killed + survived). Every survivor is printed with its diff: a
      check or a scenario is missing for it, or the mutant behaves like the flow (say why in
      the flow's comments).

      Scenarios are the scenario files under --scenarios (default: the 'scenarios' folder
      beside the flow's folder) whose 'flow:' is this file.

      --json prints one object: flow, mutants, invalid, killed, survived, score (0 to 1) and
      survivors (kind, summary, location, diff).

      Exit status: 0, or 1 when the flow is invalid or the score is below --min-score.

      Examples:
        flowctl mutate flows/update-own-2fa-phone.yaml
        flowctl mutate flows/update-own-2fa-phone.yaml --min-score 0.95 --json
      """
  )

  @Argument(help: "The flow file to mutate.", completion: .file(extensions: ["yaml", "yml"]))
  var flow: String

  @Option(
    name: .customLong("scenarios"),
    help: "Scenario files or folders to run against each mutant (repeatable).",
    completion: .file())
  var scenarioPaths: [String] = []

  @Option(help: "Fail (exit 1) when the score is below this (0 to 1).")
  var minScore: Double = 0

  @Flag(help: "Print one JSON object instead of text.")
  var json = false

  @Flag(help: "Print every mutant and what became of it, as it is run (to standard error).")
  var verbose = false

  func validate() throws {
    guard (0...1).contains(minScore) else {
      throw ValidationError("--min-score must be between 0 and 1, such as 0.95; got \(minScore)")
    }
  }

  func run() throws {
    let document = FlowDocument.load(path: flow, catalog: AccountSecurityCatalog.catalog)
    try FlowInput.check(document.diagnostics, in: document.source)
    var paths = scenarioPaths
    if paths.isEmpty {
      let beside = URL(fileURLWithPath: flow).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scenarios").path
      if FileManager.default.fileExists(atPath: beside) { paths = [beside] }
    }
    var scenarios: [Scenario] = []
    for file in try ScenarioFiles.find(paths) {
      let (scenario, diagnostics, source) = Scenario.load(path: file)
      guard let scenario else {
        try FlowInput.check(diagnostics, in: source)
        throw ExitCode(1)
      }
      scenarios.append(scenario)
    }
    let verbose = self.verbose
    let report = MutationTesting.run(document, flowPath: flow, scenarios: scenarios) {
      mutant, verdict in
      if verbose { Terminal.writeError("\(verdict.rawValue): \(mutant.summary)\n") }
    }
    for path in report.brokenScenarios {
      Terminal.writeError(
        "warning: \(path) fails on the flow itself, so it is left out of the score (fix it with flowctl test)\n"
      )
    }
    let survivors = report.survivors.map { mutant -> [String: Any] in
      [
        "kind": mutant.kind.rawValue, "summary": mutant.summary,
        "location": "\(flow):\(mutant.location.line):\(mutant.location.column)",
        "diff": mutant.diff,
      ]
    }
    if json {
      let object: [String: Any] = [
        "flow": flow, "mutants": report.mutants, "invalid": report.invalid,
        "killed": report.killed, "survived": report.survivors.count,
        "score": (report.score * 10_000).rounded() / 10_000, "survivors": survivors,
      ]
      let data = try JSONSerialization.data(
        withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
      print(String(decoding: data, as: UTF8.self))
    } else {
      let ownScenarios = scenarios.filter {
        URL(fileURLWithPath: $0.flowPath).standardizedFileURL.path
          == URL(fileURLWithPath: flow).standardizedFileURL.path
      }.count
      print(
        "\(flow): \(report.mutants) mutants (\(report.invalid) refused by the validator), checked against \(document.definition?.checks.count ?? 0) checks and \(ownScenarios) scenarios"
      )
      for mutant in report.survivors {
        print(
          "  survived: \(mutant.summary)  (\(flow):\(mutant.location.line):\(mutant.location.column))"
        )
        for line in mutant.diff { print("    \(line)") }
      }
      let valid = report.killed + report.survivors.count
      print(
        "score \(String(format: "%.1f", report.score * 100))%: \(report.killed) of \(valid) killed, \(report.survivors.count) survived"
      )
    }
    if report.score < minScore { throw ExitCode(1) }
  }
}
