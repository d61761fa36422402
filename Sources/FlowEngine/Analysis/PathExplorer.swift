internal import Logging
internal import Synchronization

/// Explores every path of a flow from a set of starts, by running the real engine and
/// services over every accepted event with every candidate payload, and over the waits that
/// move the clock, merging states whose session values and service fingerprints are equal.
///
/// Because it runs the engine itself, a counterexample is a real run: its steps replay with
/// `flowctl run` to the same effect.
public struct PathExplorer<Services: ExplorableServices> {
  public let flow: CompiledFlow
  public let clock: ManualClock
  public let services: Services
  /// Clock moves to try in every state (for example past a code's time to live).
  public let waits: [Int]
  /// Most distinct states explored per start before giving up (reported as incomplete).
  public let maxNodes: Int
  let domains: InputDomains
  let oneStepSlots: [Int]
  let machine: FlowMachine

  public init(
    flow: CompiledFlow, services: Services, clock: ManualClock, waits: [Int], maxNodes: Int = 50_000
  ) {
    self.flow = flow
    self.domains = InputDomains(flow: flow)
    self.machine = FlowMachine(flow: flow)
    self.oneStepSlots = machine.oneStepSlots
    self.services = services
    self.clock = clock
    self.waits = waits
    self.maxNodes = maxNodes
  }

  struct Node {
    var session: Session
    var saved: Services.Saved
    var now: Int
    /// States entered on the path, as a bit set over the flow's states that checks name.
    var visited: Set<Int>
    var parent: Int?
    var step: ExplorationStep?
    var depth: Int
  }

  /// The graph explored from one start.
  public struct Graph: Sendable {
    public var start: ExplorationStart
    public var nodeCount: Int
    public var complete: Bool
    /// Where the shortest path to rest in (or pass through) each state ends, by state name.
    public var stateRefs: [String: PathRef]
    /// Where the shortest path taking each transition ends, keyed "from|event-or-always|index".
    public var transitionRefs: [String: PathRef]
    public var violations: [Int: Counterexample]
    // The tree of shortest paths, kept light: parent, step and resting state per node.
    var parents: [Int?] = []
    var steps: [ExplorationStep?] = []
    var states: [String] = []

    /// The path a reference points at.
    public func path(_ ref: PathRef) -> ExploredPath {
      var collected: [ExplorationStep] = []
      var rested: [String] = []
      var cursor: Int? = ref.node
      while let current = cursor {
        rested.append(states[current])
        if let step = steps[current] { collected.append(step) }
        cursor = parents[current]
      }
      var path = ExploredPath(start: start, steps: collected.reversed(), states: rested.reversed())
      if let (step, state) = ref.extra {
        path.steps.append(step)
        path.states.append(state)
      }
      return path
    }
  }

  /// A path in a graph: to a node, optionally followed by one more step.
  public struct PathRef: Sendable {
    public var node: Int
    public var extra: (step: ExplorationStep, state: String)?
    /// Steps in the path.
    public var length: Int
  }

  struct NodeKey: Hashable {
    var state: Int
    var values: [Value]
    var fingerprint: String
    var visited: Set<Int>
    /// The state's timers spent, how long until the state's next timer and until the
    /// deadline (-1: none pending).
    var timers: [Int]
  }

  final class Recorder: @unchecked Sendable {
    let lock = Mutex<[StepObservation]>([])
    func append(_ observation: StepObservation) { lock.withLock { $0.append(observation) } }
    func take() -> [StepObservation] {
      lock.withLock { observations in
        defer { observations = [] }
        return observations
      }
    }
  }

  /// Explores from `start`, checking `flow.checks` on every step.
  public func explore(_ start: ExplorationStart) -> Graph {
    let recorder = Recorder()
    var runner = FlowRunner(
      flow: flow, services: services, clock: clock,
      logger: Logger(label: "flowengine.explorer") { _ in SwiftLogNoOpLogHandler() })
    runner.observer = { recorder.append($0) }
    // Exploration is about the flow's own logic; the engine's maximum session age would end
    // every long path the same way.
    runner.enforcesMaxAge = false
    let initialSaved = services.save()
    let initialNow = clock.now()
    var graph = Graph(
      start: start, nodeCount: 0, complete: true, stateRefs: [:], transitionRefs: [:],
      violations: [:])
    defer {
      services.restore(initialSaved)
      clock.set(initialNow)
    }
    var checkNumbers: [String: Int] = [:]
    for (number, check) in flow.checks.enumerated() where checkNumbers[check.name] == nil {
      checkNumbers[check.name] = number
    }
    guard let started = try? runner.start(sessionID: "explore", facts: start.facts) else {
      return graph
    }
    var nodes: [Node] = []
    var edges: [[Int]] = []
    var acceptsEvent: [Bool] = []
    var seen: [NodeKey: Int] = [:]
    // Only states named by `via` checks are remembered on a path: the rest would make equal
    // situations reached by different paths look different.
    let viaStates = Set(
      flow.checks.compactMap { check -> Int? in
        if case .reachesVia(_, let via) = check.kind { return via }
        return nil
      })

    func path(to index: Int) -> ExploredPath {
      var steps: [ExplorationStep] = []
      var states: [String] = []
      var cursor: Int? = index
      while let current = cursor {
        states.append(nodes[current].session.state)
        if let step = nodes[current].step { steps.append(step) }
        cursor = nodes[current].parent
      }
      return ExploredPath(start: start, steps: steps.reversed(), states: states.reversed())
    }

    /// Follows one step's entries for `via` checks; returns the visited set after it.
    func check(
      _ observations: [StepObservation], visited: Set<Int>, pathTo parent: Int?,
      step: ExplorationStep?
    )
      -> Set<Int>
    {
      var visited = visited
      for observation in observations {
        guard case .entered(let state, let session) = observation else { continue }
        if viaStates.contains(state) { visited.insert(state) }
        for (number, check) in flow.checks.enumerated() where graph.violations[number] == nil {
          if case .reachesVia(let target, let via) = check.kind, target == state,
            !visited.contains(via)
          {
            graph.violations[number] = violation(
              parent, step,
              "reached '\(flow.states[target].name)' without passing through '\(flow.states[via].name)'",
              session: session)
          }
        }
      }
      return visited
    }

    /// A step the engine refused because it would break a check (performs, reaches … when,
    /// in … holds): the engine enforces them, so the explorer sees them as rejections.
    func checkRejected(
      _ trace: StepTrace, session: Session, pathTo parent: Int?,
      step: ExplorationStep?
    ) {
      guard case .checkViolated(let name, let reason) = trace.rejection,
        let number = checkNumbers[name], graph.violations[number] == nil
      else { return }
      graph.violations[number] = violation(parent, step, reason, session: session)
    }

    func violation(_ parent: Int?, _ step: ExplorationStep?, _ message: String, session: Session)
      -> Counterexample
    {
      var explored =
        parent.map { path(to: $0) } ?? ExploredPath(start: start, steps: [], states: [])
      if let step { explored.steps.append(step) }
      explored.states.append(session.state)
      return Counterexample(path: explored, message: message)
    }

    let rootVisited = check(recorder.take(), visited: [], pathTo: nil, step: nil)
    func key(_ session: Session, _ now: Int, _ visited: Set<Int>) -> NodeKey {
      NodeKey(
        state: session.stateID, values: restingValues(session),
        fingerprint: services.fingerprint(for: session, now: now),
        visited: visited, timers: timerKey(session, now: now))
    }
    func add(_ node: Node) -> Int? {
      let nodeKey = key(node.session, node.now, node.visited)
      if let existing = seen[nodeKey] { return existing }
      guard nodes.count < maxNodes else {
        graph.complete = false
        return nil
      }
      seen[nodeKey] = nodes.count
      nodes.append(node)
      edges.append([])
      acceptsEvent.append(false)
      let index = nodes.count - 1
      if graph.stateRefs[node.session.state] == nil {
        graph.stateRefs[node.session.state] = PathRef(node: index, extra: nil, length: node.depth)
      }
      return nil
    }
    if !started.accepted {
      checkRejected(started.trace, session: started.session, pathTo: nil, step: nil)
    }
    _ = add(
      Node(
        session: started.session, saved: services.save(), now: clock.now(), visited: rootVisited,
        parent: nil, step: nil,
        depth: 0))
    record(started.trace, ref: PathRef(node: 0, extra: nil, length: 0), into: &graph)

    var cursor = 0
    while cursor < nodes.count {
      let node = nodes[cursor]
      defer { cursor += 1 }
      if node.session.isFinal { continue }
      var steps: [(ExplorationStep, () -> FlowRunner.StepResult?)] = []
      let state = flow.states[node.session.stateID]
      // Candidates (the code just received) are read from this node's services.
      services.restore(node.saved)
      clock.set(node.now)
      for name in state.acceptedEvents {
        guard let eventID = flow.eventIndex[name] else { continue }
        let event = flow.events[eventID]
        var combinations: [[(String, ExplorationInput)]] = [[]]
        for field in event.fields {
          let options = inputs(for: field, session: node.session, now: node.now, start: start)
          combinations = combinations.flatMap { partial in
            options.map { partial + [(field.name, $0)] }
          }
        }
        for combination in combinations {
          let step = ExplorationStep.event(
            name: name, payload: combination.map { ($0.0, $0.1.spelled) })
          var payload: [String: Value] = [:]
          for (field, input) in combination { payload[field] = input.value }
          steps.append((step, { try? runner.send(node.session, name, payload) }))
        }
      }
      for seconds in waits {
        steps.append((.wait(seconds: seconds), { nil }))
      }
      // Time passing until the next timer falls due is an input like an event.
      if let next = machine.nextTimer(node.session) {
        let seconds = max(0, next.due - node.now)
        if !waits.contains(seconds) { steps.append((.wait(seconds: seconds), { nil })) }
      }
      for (step, send) in steps {
        services.restore(node.saved)
        clock.set(node.now)
        _ = recorder.take()
        var session = node.session
        var visited = node.visited
        if case .wait(let seconds) = step {
          clock.advance(by: seconds)
          let fired = (try? runner.fireDue(session)) ?? []
          if fired.isEmpty {
            if services.fingerprint(for: session, now: clock.now())
              == services.fingerprint(for: session, now: node.now)
            {
              continue
            }
          } else {
            for result in fired {
              if !result.accepted {
                checkRejected(result.trace, session: result.session, pathTo: cursor, step: step)
              }
              record(
                result.trace,
                ref: PathRef(
                  node: cursor, extra: (step, result.session.state), length: node.depth + 1),
                into: &graph)
            }
            visited = check(recorder.take(), visited: visited, pathTo: cursor, step: step)
            session = fired[fired.count - 1].session
            // Time leads out of a state as an event does (no dead end).
            if session.stateID != node.session.stateID { acceptsEvent[cursor] = true }
          }
        } else {
          guard let result = send() else { continue }
          guard result.accepted else {
            checkRejected(result.trace, session: result.session, pathTo: cursor, step: step)
            continue
          }
          acceptsEvent[cursor] = true
          session = result.session
          let observed = recorder.take()
          visited = check(observed, visited: visited, pathTo: cursor, step: step)
          record(
            result.trace,
            ref: PathRef(node: cursor, extra: (step, session.state), length: node.depth + 1),
            into: &graph)
        }
        let child = Node(
          session: session, saved: services.save(), now: clock.now(), visited: visited,
          parent: cursor, step: step,
          depth: node.depth + 1)
        let before = nodes.count
        let existing = add(child)
        edges[cursor].append(existing ?? (nodes.count > before ? nodes.count - 1 : cursor))
      }
    }
    graph.nodeCount = nodes.count
    graph.parents = nodes.map(\.parent)
    graph.steps = nodes.map(\.step)
    graph.states = nodes.map(\.session.state)
    checkLiveness(&graph, nodes: nodes, edges: edges, acceptsEvent: acceptsEvent, path: path)
    return graph
  }

  func timerKey(_ session: Session, now: Int) -> [Int] {
    let groups = flow.states[session.stateID].timerGroups
    let idle =
      session.timersDone < groups.count
      ? session.enteredAt + groups[session.timersDone].seconds - now : -1
    let deadline =
      flow.deadline.map { session.deadlineDone ? -1 : session.startedAt + $0.seconds - now } ?? -1
    return [session.timersDone, idle, deadline]
  }

  /// The values that can change what happens next: one-step results (a verdict) are read as
  /// zero by the next step, so two sessions that differ only in them are the same situation.
  func restingValues(_ session: Session) -> [Value] {
    var values = session.values
    for slot in oneStepSlots { values[slot] = FlowMachine.zero(of: flow.slots[slot].type) }
    return values
  }

  /// The payload values to try for a field: the services' for domain scalars (codes, phones),
  /// a sample for other types, and every value the flow compares the field with.
  func inputs(
    for field: (name: String, type: ValueType, slot: Int), session: Session, now: Int,
    start: ExplorationStart
  ) -> [ExplorationInput] {
    var inputs: [ExplorationInput]
    if case .scalar = field.type {
      inputs = services.candidates(for: field.type, field: field.name, session: session, now: now)
    } else {
      inputs = InputDomains.sample(of: field.type).map {
        ExplorationInput(value: $0, spelled: InputDomains.spelling($0, as: field.type))
      }
    }
    var extra = domains.payload[field.slot]
    for slot in domains.payloadFacts[field.slot] {
      if let value = start.facts[flow.slots[slot].name] { extra.append(value) }
    }
    for value in extra where !inputs.contains(where: { $0.value == value }) {
      inputs.append(
        ExplorationInput(value: value, spelled: InputDomains.spelling(value, as: field.type)))
    }
    return inputs
  }

  private func record(_ trace: StepTrace, ref: PathRef, into graph: inout Graph) {
    for transition in trace.transitions {
      let key = "\(transition.from)|\(transition.trigger)|\(transition.index)"
      if graph.transitionRefs[key] == nil { graph.transitionRefs[key] = ref }
      // States passed through within a step (decisions without an event) are reached too.
      for state in [transition.from, transition.to] where graph.stateRefs[state] == nil {
        graph.stateRefs[state] = ref
      }
    }
  }

  private func checkLiveness(
    _ graph: inout Graph, nodes: [Node], edges: [[Int]], acceptsEvent: [Bool],
    path: (Int) -> ExploredPath
  ) {
    for (number, check) in flow.checks.enumerated() where graph.violations[number] == nil {
      switch check.kind {
      case .noDeadEnds:
        if let index = nodes.indices.first(where: {
          !nodes[$0].session.isFinal && !acceptsEvent[$0]
        }) {
          graph.violations[number] = Counterexample(
            path: path(index),
            message:
              "the session rests in '\(nodes[index].session.state)', which is not final, and no event is accepted there"
          )
        }
      case .finalReachable:
        var reaches = nodes.map(\.session.isFinal)
        var changed = true
        while changed {
          changed = false
          for index in nodes.indices
          where !reaches[index] && edges[index].contains(where: { reaches[$0] }) {
            reaches[index] = true
            changed = true
          }
        }
        if let index = nodes.indices.first(where: { !reaches[$0] }) {
          graph.violations[number] = Counterexample(
            path: path(index),
            message: "from '\(nodes[index].session.state)' no final state can be reached")
        }
      default:
        break
      }
    }
  }
}
