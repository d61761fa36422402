import AccountSecurity
import ArgumentParser
import FlowEngine
import Foundation

/// `flowctl paths`: the shortest way to every state and every transition.
struct PathsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "paths",
    abstract: "Find the shortest event sequence to each state and each transition of a flow.",
    discussion: """
      Paths are found by exploring the flow on simulated services for every kind of actor and
      target, with every event, codes that are right or wrong, and waits (as 'flowctl check'
      does). A state or transition no path reaches is listed as unreachable.

      With --emit DIR, each path is written as a scenario file (with the world it runs in) that
      'flowctl test DIR' runs.

      Examples:
        flowctl paths flows/update-own-2fa-phone.yaml
        flowctl paths flows/update-own-2fa-phone.yaml --emit build/paths && flowctl test build/paths
      """
  )

  @Argument(help: "The flow file.", completion: .file(extensions: ["yaml", "yml"]))
  var flow: String

  @Option(help: "Write a scenario file for each path into this folder.")
  var emit: String?

  func run() throws {
    let compiled = try FlowInput.flow(flow)
    let report = FlowChecker.run(compiled)
    var targets: [(name: String, kind: String, path: ExploredPath?)] = []
    for state in compiled.states {
      targets.append((state.name, "state", report.pathToState[state.name]))
    }
    for state in compiled.states {
      for (eventID, list) in state.handlers.enumerated() {
        for (index, transition) in list.enumerated() {
          let name =
            "\(state.name) --\(compiled.events[eventID].name)[\(index)]--> \(compiled.states[transition.target].name)"
          targets.append(
            (
              name, "transition",
              report.pathToTransition["\(state.name)|\(compiled.events[eventID].name)|\(index)"]
            ))
        }
      }
      for (index, transition) in state.always.enumerated() {
        let name = "\(state.name) --always[\(index)]--> \(compiled.states[transition.target].name)"
        targets.append(
          (name, "transition", report.pathToTransition["\(state.name)|always|\(index)"]))
      }
      for (index, timer) in state.timers.enumerated() {
        let name =
          "\(state.name) --after[\(index)] \(Value.format(duration: timer.seconds))--> \(compiled.states[timer.transition.target].name)"
        targets.append(
          (name, "transition", report.pathToTransition["\(state.name)|after|\(index)"]))
      }
    }
    if let deadline = compiled.deadline {
      // The deadline's shortest path, in whichever state it fell.
      let taken = report.pathToTransition.filter { $0.key.contains("|deadline|") }.values
        .min { $0.steps.count < $1.steps.count }
      targets.append(
        (
          "deadline \(Value.format(duration: deadline.seconds)) --> \(compiled.states[deadline.transition.target].name)",
          "transition", taken
        ))
    }
    var emitted = 0
    if let emit {
      try FileManager.default.createDirectory(atPath: emit, withIntermediateDirectories: true)
      try WorldFile.render(report.world).write(
        toFile: (emit as NSString).appendingPathComponent("world.yaml"), atomically: true,
        encoding: .utf8)
    }
    for (number, target) in targets.enumerated() {
      guard let path = target.path else {
        print("\(target.kind) \(target.name): unreachable")
        continue
      }
      let steps = path.steps.map { "\($0)".dropFirst(2) }.joined(separator: ", ")
      print(
        "\(target.kind) \(target.name): \(path.start.label): \(steps.isEmpty ? "(at start)" : steps)"
      )
      if let emit {
        let file = (emit as NSString).appendingPathComponent(
          String(format: "%03d-%@.yaml", number + 1, target.kind))
        try scenario(
          for: target.name, kind: target.kind, path: path, flowPath: flow, directory: emit
        ).write(
          toFile: file, atomically: true, encoding: .utf8)
        emitted += 1
      }
    }
    if let emit { print("\(emitted) scenarios written to \(emit)") }
  }

  /// A scenario replaying `path`, expecting the state after every step.
  private func scenario(
    for name: String, kind: String, path: ExploredPath, flowPath: String, directory: String
  ) -> String {
    let flowReference = relative(flowPath, from: directory)
    var text = """
      # yaml-language-server: $schema=https://flowengine.example/schemas/scenario.schema.json
      # Written by flowctl paths: the shortest path to the \(kind) \(name).
      scenario: "reaches \(kind) \(name.replacingOccurrences(of: "\"", with: "'"))"
      flow: \(flowReference)
      world: world.yaml
      actor: \(path.start.actor)
      target: \(path.start.target)
      start: { state: \(path.states.first ?? "") }
      steps:

      """
    for (index, step) in path.steps.enumerated() {
      let state = path.states[index + 1]
      switch step {
      case .wait(let seconds):
        text += "  - wait: \(Value.format(duration: seconds))\n"
      case .event(let event, let payload):
        text += "  - send: \(event)\n"
        if !payload.isEmpty {
          text +=
            "    payload: { " + payload.map { "\($0.name): \($0.spelled)" }.joined(separator: ", ")
            + " }\n"
        }
        text += "    expect: { state: \(state) }\n"
      }
    }
    if path.steps.isEmpty { text = text.replacingOccurrences(of: "steps:\n", with: "steps: []\n") }
    return text
  }

  /// `target` as seen from `directory` (absolute when either is).
  private func relative(_ target: String, from directory: String) -> String {
    let base = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL.pathComponents
    let file = URL(fileURLWithPath: target).standardizedFileURL.pathComponents
    var common = 0
    while common < min(base.count, file.count) && base[common] == file[common] { common += 1 }
    return (Array(repeating: "..", count: base.count - common) + file[common...]).joined(
      separator: "/")
  }
}
