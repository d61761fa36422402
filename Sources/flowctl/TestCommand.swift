import AccountSecurity
import ArgumentParser
import FlowEngine
import Foundation

/// `flowctl test`: run scenario files.
struct TestCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "test",
    abstract: "Run scenario files: dry runs with expectations on states, effects and the world.",
    discussion: """
      A scenario names a flow, a world and who acts, then sends events and waits, each with
      what must be true afterwards (schemas/scenario.schema.json):

        scenario: Ada changes her own number
        flow: ../flows/update-own-2fa-phone.yaml
        world: ../examples/team.yaml
        actor: ada
        steps:
          - send: disable2FA
            expect: { state: verifyingCurrentNumber, delivered: [{ to: "+15550100001", code: true }] }
          - send: submitCode
            payload: { code: $received }
            expect: { state: editingPhone }
        final:
          users: { ada: { twoFactor: false } }

      PATH may be a scenario file or a folder (searched for *.yaml files that start with
      'scenario:' or reference scenario.schema.json). The last line is 'N passed, N failed';
      the exit status is 1 when any scenario failed or could not be read.

      Examples:
        flowctl test scenarios/
        flowctl test scenarios/ --coverage --junit build/scenarios.xml
      """
  )

  @Argument(help: "Scenario files or folders.", completion: .file(extensions: ["yaml", "yml"]))
  var paths: [String]

  @Option(help: "Write the results as JUnit XML to this file.")
  var junit: String?

  @Flag(
    help:
      "Report the states, transitions and guard outcomes the scenarios exercised, and those never reached."
  )
  var coverage = false

  func run() throws {
    let files = try ScenarioFiles.find(paths)
    var runner = ScenarioRunner()
    var results: [ScenarioRunner.Result] = []
    var unreadable = 0
    for file in files {
      let (scenario, diagnostics, source) = Scenario.load(path: file)
      guard let scenario else {
        Terminal.writeError(DiagnosticRenderer().render(diagnostics, in: source))
        print("✗ \(file): the scenario file is invalid")
        unreadable += 1
        continue
      }
      let result = runner.run(scenario)
      results.append(result)
      if result.passed {
        print("✓ \(scenario.name)  (\(file))")
      } else {
        print("✗ \(scenario.name)  (\(file))")
        for failure in result.failures { print("    \(file):\(failure)") }
        print("    trace:")
        for trace in result.traces {
          let title = trace.timer ?? trace.event ?? "start"
          let outcome =
            trace.rejection.map { "rejected (\($0.kind))" } ?? "\(trace.from) → \(trace.to)"
          print("      \(title): \(outcome)")
        }
      }
    }
    if coverage {
      for (_, report) in runner.coverage.sorted(by: { $0.key < $1.key }) {
        print("")
        print("coverage of \(report.flowID):")
        print(
          "  states       \(report.statesCovered)/\(report.states.count)\(percent(report.statesCovered, report.states.count))"
        )
        print(
          "  transitions  \(report.transitionsCovered)/\(report.transitions.count)\(percent(report.transitionsCovered, report.transitions.count))"
        )
        print(
          "  guard outcomes \(report.guardOutcomesCovered)/\(report.guardOutcomes.count)\(percent(report.guardOutcomesCovered, report.guardOutcomes.count))"
        )
        for state in report.missedStates { print("  never reached: state \(state)") }
        for transition in report.missedTransitions { print("  never taken: \(transition)") }
        for outcome in report.missedGuardOutcomes { print("  never seen: \(outcome)") }
      }
      print("")
    }
    let passed = results.filter(\.passed).count
    let failed = results.count - passed + unreadable
    if let junit {
      try JUnitReport.write(results, unreadable: unreadable, to: junit)
    }
    print("\(passed) passed, \(failed) failed")
    if failed > 0 { throw ExitCode(1) }
  }

  private func percent(_ part: Int, _ whole: Int) -> String {
    whole == 0 ? "" : " (\(part * 100 / whole)%)"
  }
}

/// Finds scenario files under the given paths.
enum ScenarioFiles {
  static func find(_ paths: [String]) throws -> [String] {
    var files: [String] = []
    for path in paths {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        Terminal.writeError("error: no such file or folder: \(path)\n")
        throw ExitCode(1)
      }
      if !isDirectory.boolValue {
        files.append(path)
        continue
      }
      let enumerator = FileManager.default.enumerator(atPath: path)
      var found: [String] = []
      while let name = enumerator?.nextObject() as? String {
        guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { continue }
        let full = (path as NSString).appendingPathComponent(name)
        guard let text = try? String(contentsOfFile: full, encoding: .utf8) else { continue }
        if text.contains("scenario.schema.json")
          || text.split(separator: "\n").contains(where: { $0.hasPrefix("scenario:") })
        {
          found.append(full)
        }
      }
      files += found.sorted()
    }
    return files
  }
}

/// JUnit XML, as CI tools read it: one suite per flow, one case per scenario.
enum JUnitReport {
  static func write(_ results: [ScenarioRunner.Result], unreadable: Int, to path: String) throws {
    let suites = Dictionary(grouping: results) { $0.flowID.isEmpty ? "unknown" : $0.flowID }
    let failures = results.filter { !$0.passed }.count + unreadable
    let total = results.count + unreadable
    var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    xml +=
      "<testsuites name=\"flowctl test\" tests=\"\(total)\" failures=\"\(failures)\" errors=\"0\">\n"
    for (flow, cases) in suites.sorted(by: { $0.key < $1.key }) {
      let suiteFailures = cases.filter { !$0.passed }.count
      let time = cases.reduce(0) { $0 + $1.seconds }
      xml +=
        "  <testsuite name=\"\(escape(flow))\" tests=\"\(cases.count)\" failures=\"\(suiteFailures)\" errors=\"0\" skipped=\"0\" time=\"\(String(format: "%.4f", time))\">\n"
      for result in cases {
        xml +=
          "    <testcase classname=\"\(escape(flow))\" name=\"\(escape(result.scenario.name))\" file=\"\(escape(result.scenario.path))\" time=\"\(String(format: "%.4f", result.seconds))\""
        if result.passed {
          xml += "/>\n"
        } else {
          let message = result.failures.map(\.description).joined(separator: "\n")
          xml +=
            ">\n      <failure message=\"\(escape(result.failures.first?.message ?? "failed"))\">\(escape(message))</failure>\n    </testcase>\n"
        }
      }
      xml += "  </testsuite>\n"
    }
    if unreadable > 0 {
      xml +=
        "  <testsuite name=\"unreadable\" tests=\"\(unreadable)\" failures=\"\(unreadable)\" errors=\"0\">\n"
      for number in 0..<unreadable {
        xml +=
          "    <testcase classname=\"unreadable\" name=\"scenario file \(number + 1)\"><failure message=\"invalid scenario file\"/></testcase>\n"
      }
      xml += "  </testsuite>\n"
    }
    xml += "</testsuites>\n"
    let directory = (path as NSString).deletingLastPathComponent
    if !directory.isEmpty {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    try xml.write(toFile: path, atomically: true, encoding: .utf8)
  }

  static func escape(_ text: String) -> String {
    var result = ""
    for character in text {
      switch character {
      case "&": result += "&amp;"
      case "<": result += "&lt;"
      case ">": result += "&gt;"
      case "\"": result += "&quot;"
      case "'": result += "&apos;"
      default: result.append(character)
      }
    }
    return result
  }
}
