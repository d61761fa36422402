import AccountSecurity
import ArgumentParser
import FlowEngine
import Foundation

/// `flowctl check`: prove a flow's `checks:` over every path.
struct CheckCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check",
    abstract: "Prove a flow's checks over every path, or show a counterexample.",
    discussion: """
      Every path is explored by running the flow on simulated services, for every kind of
      actor and target (admins and non-admins, 2FA on and off, the same account or another,
      themselves or someone else), with every event a state accepts, codes that are right or
      wrong, a new phone number, and waits past a code's time to live.

      A failed check prints the shortest path that breaks it. With --counterexample DIR, the
      path is written as a world file and an events file that `flowctl run` replays.

      Checks are declared in the flow (see docs/flow-language.md, "checks"):
        checks:
          - name: a number is saved only after the current number is proven
            performs: savePhone
            when: codeAccepted or not twoFactorOn

      Exit status: 0 when every check holds, 1 when any fails or the flow is invalid.

      Examples:
        flowctl check flows/update-own-2fa-phone.yaml
        flowctl check my-flow.yaml --counterexample out/
      """
  )

  @Argument(help: "Flow files to check.", completion: .file(extensions: ["yaml", "yml"]))
  var flows: [String]

  @Option(
    help: "Write each failed check's counterexample (world.yaml, events.yaml) under this folder.")
  var counterexample: String?

  func run() throws {
    var passed = 0
    var failed = 0
    for path in flows {
      let flow = try FlowInput.flow(path)
      let report = FlowChecker.run(flow)
      let checks = flow.checks.count == 1 ? "1 check" : "\(flow.checks.count) checks"
      print("\(path): \(checks) over \(report.starts) starts, \(report.nodes) states explored")
      if !report.complete {
        print("  ✗ the paths could not all be explored within the limit; nothing is proven")
        failed += 1
      }
      for gap in report.gaps {
        failed += 1
        print("  ✗ \(path):\(gap.location.line):\(gap.location.column): \(gap.message)")
        if let taken = gap.path {
          print("      for \(taken.start.label), events:")
          for step in taken.steps { print("        \(step)") }
        }
      }
      if !report.gaps.isEmpty {
        print("  (with gaps in the exploration, the checks below are not proven)")
      }
      for (number, result) in report.results.enumerated() {
        guard let example = result.counterexample else {
          print("  ✓ \(result.check.name)")
          passed += 1
          continue
        }
        failed += 1
        print("  ✗ \(result.check.name)")
        print("      for \(example.path.start.label): \(example.message)")
        print("      events:")
        for step in example.path.steps { print("        \(step)") }
        if example.path.steps.isEmpty { print("        (none: it happens as the session starts)") }
        if let directory = counterexample {
          let folder = (directory as NSString).appendingPathComponent(
            "\(flow.id)-check-\(number + 1)")
          let command = try FlowChecker.write(
            example, check: result.check.name, flowPath: path, world: report.world, to: folder)
          print("      replay: \(command)")
        }
      }
    }
    print("\(passed) passed, \(failed) failed")
    if failed > 0 { throw ExitCode(1) }
  }
}
