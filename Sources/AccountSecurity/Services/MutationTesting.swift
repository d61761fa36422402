public import FlowEngine
internal import Foundation

/// Scores a flow's checks and scenarios by the mistakes they notice: every mutant of the flow
/// (`FlowMutator`) that still validates is run against the flow's checks (`FlowChecker`) and
/// its scenarios; a mutant is killed when a check fails (or cannot be proven) or a scenario
/// fails, and survives otherwise. Mutants that no longer validate are not counted: the
/// validator already catches those mistakes.
public enum MutationTesting {
  public struct Report: Sendable {
    public var mutants: Int
    /// Mutants the validator refuses (not counted in the score).
    public var invalid: Int
    public var killed: Int
    public var survivors: [FlowMutant]
    /// Scenarios of the flow that fail on the flow itself: left out, since they would "kill"
    /// every mutant (their files, for the warning).
    public var brokenScenarios: [String] = []
    /// Killed over valid mutants, 0 to 1 (1 when there is none).
    public var score: Double {
      let valid = killed + survivors.count
      return valid == 0 ? 1 : Double(killed) / Double(valid)
    }
  }

  /// Mutates `document` (a valid flow read from `flowPath`) and runs each mutant against the
  /// checks and the scenarios among `scenarios` whose flow is that file.
  /// What became of one mutant.
  public enum Verdict: String, Sendable {
    case invalid
    case killedByCheck = "killed by a check"
    case killedByScenario = "killed by a scenario"
    case survived
  }

  public static func run(
    _ document: FlowDocument, flowPath: String, scenarios: [Scenario],
    progress: ((FlowMutant, Verdict) -> Void)? = nil
  ) -> Report {
    guard let definition = document.definition else {
      return Report(mutants: 0, invalid: 0, killed: 0, survivors: [])
    }
    let target = standardized(flowPath)
    var own = scenarios.filter { standardized($0.flowPath) == target }
    let mutants = FlowMutator.mutants(of: definition, source: document.source)
    var report = Report(mutants: mutants.count, invalid: 0, killed: 0, survivors: [])
    if let unmutated = document.compiled() {
      let broken = own.filter { fails([$0], on: unmutated) }
      report.brokenScenarios = broken.map(\.path)
      own.removeAll { scenario in broken.contains { $0.path == scenario.path } }
    }
    let validator = FlowValidator(catalog: document.catalog)
    // A mutant whose exploration grows far past the flow's own (a lost lockout lets failures
    // count for ever) is not proven, so it is killed: no need to explore it to the end.
    let original = document.compiled().map { FlowChecker.run($0).nodes } ?? 0
    let maxNodes = max(1_000, original * 10)
    for (number, mutant) in mutants.enumerated() {
      let (validated, diagnostics) = validator.validate(mutant.definition)
      guard !diagnostics.hasErrors else {
        report.invalid += 1
        progress?(mutant, .invalid)
        continue
      }
      let flow = FlowCompiler.compile(
        validated, catalog: document.catalog,
        contentHash: FlowCompiler.hash(Array("\(document.contentHash):mutant-\(number)".utf8)))
      let verdict: Verdict
      if !FlowChecker.run(flow, maxNodes: maxNodes).passed {
        verdict = .killedByCheck
      } else if fails(own, on: flow) {
        verdict = .killedByScenario
      } else {
        verdict = .survived
      }
      if verdict == .survived {
        report.survivors.append(mutant)
      } else {
        report.killed += 1
      }
      progress?(mutant, verdict)
    }
    return report
  }

  private static func fails(_ scenarios: [Scenario], on flow: CompiledFlow) -> Bool {
    var runner = ScenarioRunner()
    for scenario in scenarios {
      runner.use(flow, forFlowAt: scenario.flowPath)
      if !runner.run(scenario).passed { return true }
    }
    return false
  }

  static func standardized(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
  }
}
