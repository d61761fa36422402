public import FlowEngine
internal import Foundation

/// Proves a flow's `checks:` over every path, for every kind of actor and target: admins and
/// non-admins, with 2FA on and off, in the same account or another, themselves or someone else.
///
/// Paths are explored by running the engine on the in-memory services (see `PathExplorer`),
/// with codes either just received or wrong, a new phone number, and waits past a code's time
/// to live, so every counterexample replays with `flowctl run`.
typealias ExplorationGraph = PathExplorer<InMemoryAccountSecurity>.Graph
typealias ExplorationRef = PathExplorer<InMemoryAccountSecurity>.PathRef
typealias Best = [String: (graph: ExplorationGraph, ref: ExplorationRef)]

public enum FlowChecker {
  public struct Report: Sendable {
    public var results: [CheckResult]
    public var starts: Int
    public var nodes: Int
    /// False when some start hit the node limit (the proof is then incomplete).
    public var complete: Bool
    /// Shortest known path to rest in each state, and to take each transition.
    public var pathToState: [String: ExploredPath]
    public var pathToTransition: [String: ExploredPath]
    public var world: AccountSecurityState

    public var passed: Bool { complete && results.allSatisfy(\.passed) }
  }

  /// Clock moves tried in every state: past a code's life, and past the resend cooldown.
  public static let waits = [11 * 60]

  /// A world with one user for every role, 2FA setting and account (two accounts).
  public static func explorationWorld() -> AccountSecurityState {
    var state = AccountSecurityState()
    state.add(Account(id: "north", name: "North Co"))
    state.add(Account(id: "south", name: "South Co"))
    var number = 1
    for account in ["north", "south"] {
      for role in Role.allCases {
        for enabled in [true, false] {
          let id = "\(role.rawValue)-\(enabled ? "2fa" : "no2fa")-\(account)"
          let phone = try! PhoneNumber(parsing: "+1555020\(String(format: "%04d", number))")
          state.add(
            User(
              id: id, name: id, role: role, account: account, phone: phone,
              email: "\(id)@example.test",
              twoFactor: TwoFactorSettings(enabled: enabled)))
          number += 1
        }
      }
    }
    return state
  }

  /// Every actor with every target (including themselves).
  public static func starts(in world: AccountSecurityState) -> [ExplorationStart] {
    let ids = world.users.keys.sorted()
    return ids.flatMap { actor in
      ids.compactMap { target -> ExplorationStart? in
        guard let actorFacts = world.facts(of: actor, as: "actor"),
          let targetFacts = world.facts(of: target, as: "target")
        else { return nil }
        return ExplorationStart(
          label: "actor \(actor), target \(target)", actor: actor, target: target,
          facts: actorFacts.merging(targetFacts) { first, _ in first })
      }
    }
  }

  /// One start per kind of situation the flow can tell apart: starts whose facts agree on
  /// every fact the flow reads (and on the target's 2FA, which the services act on), with text
  /// facts compared only by which of them are equal (who is whom, which account), explore the
  /// same paths. The flow's facts are only ever compared for equality, never with other text.
  public static func distinctStarts(of flow: CompiledFlow, in world: AccountSecurityState)
    -> [ExplorationStart]
  {
    var read = Set(flow.slotsRead)
    if let twoFactor = flow.slotIndex["target.twoFactor.enabled"] { read.insert(twoFactor) }
    var seen: Set<[String]> = []
    return starts(in: world).filter { start in
      var canonical: [String: Int] = [:]
      var signature: [String] = []
      for (index, slot) in flow.slots.enumerated() where slot.kind == .fact {
        guard let value = start.facts[slot.name] else { continue }
        switch (slot.type, value) {
        case (.string, .string(let text)), (.scalar, .string(let text)):
          let number = canonical[text] ?? canonical.count
          canonical[text] = number
          signature.append("#\(number)")
        default:
          if read.contains(index) { signature.append("\(value)") }
        }
      }
      return seen.insert(signature).inserted
    }
  }

  public static func run(
    _ flow: CompiledFlow, world: AccountSecurityState = explorationWorld(), maxNodes: Int = 20_000
  )
    -> Report
  {
    var report = Report(
      results: flow.checks.map { CheckResult(check: $0, counterexample: nil) }, starts: 0, nodes: 0,
      complete: true,
      pathToState: [:], pathToTransition: [:], world: world)
    var bestStates: Best = [:]
    var bestTransitions: Best = [:]
    for start in distinctStarts(of: flow, in: world) {
      let clock = ManualClock()
      let services = InMemoryAccountSecurity(
        state: world, clock: clock, codes: SeededCodeGenerator(seed: 2_026))
      let explorer = PathExplorer(
        flow: flow, services: services, clock: clock, waits: waits, maxNodes: maxNodes)
      let graph = explorer.explore(start)
      report.starts += 1
      report.nodes += graph.nodeCount
      report.complete = report.complete && graph.complete
      for (number, counterexample) in graph.violations {
        let current = report.results[number].counterexample
        if current == nil || counterexample.path.steps.count < current!.path.steps.count {
          report.results[number].counterexample = counterexample
        }
      }
      merge(graph.stateRefs, of: graph, into: &bestStates)
      merge(graph.transitionRefs, of: graph, into: &bestTransitions)
    }
    report.pathToState = bestStates.mapValues { $0.graph.path($0.ref) }
    report.pathToTransition = bestTransitions.mapValues { $0.graph.path($0.ref) }
    return report
  }

  private static func merge(
    _ refs: [String: ExplorationRef], of graph: ExplorationGraph, into best: inout Best
  ) {
    for (key, ref) in refs where best[key] == nil || ref.length < best[key]!.ref.length {
      best[key] = (graph, ref)
    }
  }

  /// Failed checks as diagnostics at the check, for `validate`.
  public static func diagnostics(_ report: Report) -> [Diagnostic] {
    var diagnostics = report.results.compactMap { result -> Diagnostic? in
      guard let counterexample = result.counterexample else { return nil }
      let steps = counterexample.path.steps.map { "\($0)".dropFirst(2) }.joined(separator: ", ")
      return Diagnostic(
        .checkFailed,
        "check '\(result.check.name)' fails for \(counterexample.path.start.label): \(counterexample.message); events: \(steps.isEmpty ? "none" : steps) (flowctl check writes a replayable counterexample)",
        at: result.check.location)
    }
    if !report.complete, let first = report.results.first {
      diagnostics.append(
        Diagnostic(
          .checkFailed,
          "the paths could not all be explored within the limit; the checks are not proven",
          at: first.check.location))
    }
    return diagnostics
  }

  /// Writes a counterexample as a world file and an events file in `directory`; returns the
  /// `flowctl run` command that replays it.
  public static func write(
    _ counterexample: Counterexample, check: String, flowPath: String, world: AccountSecurityState,
    to directory: String
  ) throws -> String {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let start = counterexample.path.start
    let worldPath = (directory as NSString).appendingPathComponent("world.yaml")
    let eventsPath = (directory as NSString).appendingPathComponent("events.yaml")
    let users = Set([start.actor, start.target])
    try WorldFile.render(world, users: users).write(
      toFile: worldPath, atomically: true, encoding: .utf8)
    let command =
      "flowctl run \(flowPath) --world \(worldPath) --actor \(start.actor) --target \(start.target) --events \(eventsPath)"
    let header = """
      # yaml-language-server: $schema=https://flowengine.example/schemas/events.schema.json
      #
      # Counterexample to the check "\(check)":
      # \(counterexample.message)
      # Replay: \(command)

      """
    try (header + counterexample.path.eventsFile).write(
      toFile: eventsPath, atomically: true, encoding: .utf8)
    return command
  }
}

extension FlowChecker {
  /// A document's diagnostics plus its failed checks (E032), sorted: what `validate` reports.
  public static func validate(_ document: FlowDocument) -> [Diagnostic] {
    guard let flow = document.compiled(), !flow.checks.isEmpty else { return document.diagnostics }
    return (document.diagnostics + diagnostics(run(flow))).sortedByLocation()
  }
}
