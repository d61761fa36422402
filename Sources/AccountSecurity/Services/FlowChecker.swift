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
    /// What the flow's graph leads to but no explored path reached (or a transition declared
    /// `unreachable: true` that a path took): any gap means nothing is proven.
    public var gaps: [Gap] = []
    /// Shortest known path to rest in each state, and to take each transition.
    public var pathToState: [String: ExploredPath]
    public var pathToTransition: [String: ExploredPath]
    public var world: AccountSecurityState

    public var passed: Bool { complete && gaps.isEmpty && results.allSatisfy(\.passed) }
  }

  /// A state or transition exploration did not reach although the graph leads to it, or one
  /// declared unreachable that a path took.
  public struct Gap: Sendable {
    public var message: String
    public var location: SourceLocation
    /// The path that took a transition declared unreachable.
    public var path: ExploredPath?
  }

  /// Clock moves tried in every state: past a code's life, and past the resend cooldown.
  public static let waits = [11 * 60]

  /// A world with one user for every role, 2FA setting and channel in each of two accounts,
  /// plus, for a flow, users whose facts take every value the flow compares them with (an id,
  /// a name, an account, a phone or an email written in a guard).
  public static func explorationWorld(for flow: CompiledFlow? = nil) -> AccountSecurityState {
    var state = AccountSecurityState()
    state.add(Account(id: "north", name: "North Co"))
    state.add(Account(id: "south", name: "South Co"))
    var number = 1
    /// Adds a user with the next free number (+1 555 020 0001, …).
    func add(
      _ id: String, _ role: Role, _ account: String, enabled: Bool, channel: Channel,
      change: (inout User) -> Bool = { _ in true }
    ) {
      defer { number += 1 }
      guard state.users[id] == nil,
        let phone = try? PhoneNumber(parsing: "+1555020\(String(format: "%04d", number))")
      else { return }
      var user = User(
        id: id, name: id, role: role, account: account, phone: phone,
        email: "\(id)@example.test",
        twoFactor: TwoFactorSettings(enabled: enabled, channel: channel))
      if change(&user) { state.add(user) }
    }
    for account in ["north", "south"] {
      for role in Role.allCases {
        for enabled in [true, false] {
          for channel in Channel.allCases {
            let suffix = channel == .sms ? "" : "-\(channel.rawValue)"
            let id = "\(role.rawValue)-\(enabled ? "2fa" : "no2fa")-\(account)\(suffix)"
            add(id, role, account, enabled: enabled, channel: channel)
          }
        }
      }
    }
    guard let flow else { return state }
    let domains = InputDomains(flow: flow)
    var literals: [String: Set<String>] = [:]
    for (name, values) in domains.facts {
      guard let dot = name.firstIndex(of: ".") else { continue }
      let field = String(name[name.index(after: dot)...])
      for case .string(let text) in values { literals[field, default: []].insert(text) }
    }
    for id in literals["id", default: []].sorted() {
      add(id, .admin, "north", enabled: true, channel: .sms)
    }
    for account in literals["account", default: []].sorted()
    where state.accounts[account] == nil {
      state.add(Account(id: account, name: account))
      for role in Role.allCases {
        for enabled in [true, false] {
          add(
            "\(role.rawValue)-\(enabled ? "2fa" : "no2fa")-\(account)", role, account,
            enabled: enabled, channel: .sms)
        }
      }
    }
    for (field, values) in literals.sorted(by: { $0.key < $1.key })
    where ["name", "phone", "email"].contains(field) {
      for (index, value) in values.sorted().enumerated() {
        for role in Role.allCases {
          add(
            "\(role.rawValue)-\(field)\(index + 1)-north", role, "north", enabled: true,
            channel: .sms
          ) { variant in
            switch field {
            case "name": variant.name = value
            case "email": variant.email = value
            default:
              guard let phone = try? PhoneNumber(parsing: value) else { return false }
              variant.phone = phone
            }
            return true
          }
        }
      }
    }
    return state
  }

  /// The world of `explorationWorld()` without flow-specific users.
  public static func explorationWorld() -> AccountSecurityState { explorationWorld(for: nil) }

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
    let literals = InputDomains(flow: flow).facts
    var seen: Set<[String]> = []
    return starts(in: world).filter { start in
      var canonical: [String: Int] = [:]
      var signature: [String] = []
      for (index, slot) in flow.slots.enumerated() where slot.kind == .fact {
        guard let value = start.facts[slot.name] else { continue }
        switch (slot.type, value) {
        case (.string, .string(let text)), (.scalar, .string(let text)):
          if literals[slot.name]?.contains(value) == true {
            signature.append("=\(text)")
            continue
          }
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
    _ flow: CompiledFlow, world: AccountSecurityState? = nil, maxNodes: Int = 20_000
  )
    -> Report
  {
    let world = world ?? explorationWorld(for: flow)
    var report = Report(
      results: flow.checks.map { CheckResult(check: $0, counterexample: nil) }, starts: 0, nodes: 0,
      complete: true,
      pathToState: [:], pathToTransition: [:], world: world)
    var bestStates: Best = [:]
    var bestTransitions: Best = [:]
    // canReach checks: whether some start their `when` admits reached the state.
    var reachCandidates: [Int: ExplorationStart] = [:]
    var reached: Set<Int> = []
    let machine = FlowMachine(flow: flow)
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
      for (number, check) in flow.checks.enumerated() {
        guard case .canReach(let state, let condition) = check.kind, !reached.contains(number)
        else { continue }
        if let condition {
          var values = flow.slots.map { slot in start.facts[slot.name] ?? .bool(false) }
          if values.count != flow.slots.count { values = [] }
          guard
            machine.evaluate(condition.expression, values: values, payload: [])
              == .bool(true)
          else { continue }
        }
        if graph.stateRefs[flow.states[state].name] != nil {
          reached.insert(number)
        } else if reachCandidates[number] == nil {
          reachCandidates[number] = start
        }
      }
    }
    for (number, check) in flow.checks.enumerated() {
      guard case .canReach(let state, let condition) = check.kind, !reached.contains(number)
      else { continue }
      let name = flow.states[state].name
      let starts = condition.map { "no start where \($0.text) holds" } ?? "no start"
      let start =
        reachCandidates[number]
        ?? ExplorationStart(label: "every start", actor: "", target: "", facts: [:])
      report.results[number].counterexample = Counterexample(
        path: ExploredPath(start: start, steps: [], states: []),
        message: "\(starts) has a path that reaches '\(name)'")
    }
    report.gaps = gaps(of: flow, states: bestStates, transitions: bestTransitions)
    report.pathToState = bestStates.mapValues { $0.graph.path($0.ref) }
    report.pathToTransition = bestTransitions.mapValues { $0.graph.path($0.ref) }
    return report
  }

  /// What the flow's graph leads to (through transitions not declared unreachable) that no
  /// explored path reached, and declared-unreachable transitions some path took.
  static func gaps(of flow: CompiledFlow, states: Best, transitions: Best) -> [Gap] {
    var gaps: [Gap] = []
    var leadsTo: Set<Int> = [flow.start]
    var queue = [flow.start]
    var into: [Int: SourceLocation] = [:]
    if let deadline = flow.deadline, leadsTo.insert(deadline.transition.target).inserted {
      queue.append(deadline.transition.target)
      into[deadline.transition.target] = deadline.transition.location
    }
    while let state = queue.popLast() {
      let compiled = flow.states[state]
      for transition in compiled.allTransitions where !transition.isUnreachable {
        if leadsTo.insert(transition.target).inserted {
          queue.append(transition.target)
          into[transition.target] = transition.location
        }
      }
    }
    for state in leadsTo.sorted() where states[flow.states[state].name] == nil {
      let name = flow.states[state].name
      gaps.append(
        Gap(
          message:
            "state '\(name)' is never reached on any explored path, although the flow leads to it; fix the flow, or declare the transitions into it `unreachable: true` with a reason",
          location: into[state] ?? flow.definition.location))
    }
    for (number, compiled) in flow.states.enumerated() where leadsTo.contains(number) {
      var lists: [(String, [CompiledTransition])] = []
      for (eventID, handlers) in compiled.handlers.enumerated() where !handlers.isEmpty {
        lists.append((flow.events[eventID].name, handlers))
      }
      lists.append(("always", compiled.always))
      lists.append(("after", compiled.timers.map(\.transition)))
      for (trigger, list) in lists {
        for (index, transition) in list.enumerated() {
          let key = "\(compiled.name)|\(trigger)|\(index)"
          let target = flow.states[transition.target].name
          let how =
            switch trigger {
            case "always": "(always)"
            case "after": "(\(compiled.timers[index].label))"
            default: "on '\(trigger)'"
            }
          let what = "the transition from '\(compiled.name)' \(how) to '\(target)'"
          if transition.isUnreachable {
            if let taken = transitions[key] {
              gaps.append(
                Gap(
                  message: "\(what) is declared unreachable, but a path takes it",
                  location: transition.location, path: taken.graph.path(taken.ref)))
            }
          } else if transitions[key] == nil {
            gaps.append(
              Gap(
                message:
                  "\(what) is never taken on any explored path; fix the flow, or declare it `unreachable: true` with a reason",
                location: transition.location))
          }
        }
      }
    }
    if let deadline = flow.deadline,
      !transitions.keys.contains(where: { $0.contains("|deadline|") })
    {
      gaps.append(
        Gap(
          message:
            "the deadline (\(Value.format(duration: deadline.seconds))) never falls due on any explored path",
          location: deadline.transition.location))
    }
    return gaps
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
    for gap in report.gaps {
      diagnostics.append(Diagnostic(.checkFailed, gap.message, at: gap.location))
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
