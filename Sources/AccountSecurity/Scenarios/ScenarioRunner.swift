public import FlowEngine

/// Runs scenarios on dry runs and collects what they covered.
public struct ScenarioRunner {
  public struct Failure: Sendable, CustomStringConvertible {
    public var message: String
    public var location: SourceLocation
    public var description: String { "\(location): \(message)" }
  }

  public struct Result: Sendable {
    public var scenario: Scenario
    public var flowID: String
    public var failures: [Failure]
    /// The trace of every step, for printing when something failed.
    public var traces: [StepTrace]
    public var seconds: Double
    public var passed: Bool { failures.isEmpty }
  }

  public private(set) var coverage: [String: Coverage] = [:]
  private var flows: [String: CompiledFlow] = [:]
  private var worlds: [String: AccountSecurityState] = [:]

  public init() {}

  /// Runs scenarios whose `flow:` is `path` on `flow` instead of the file (a mutant of it).
  public mutating func use(_ flow: CompiledFlow, forFlowAt path: String) {
    flows[path] = flow
  }

  /// Runs one scenario; problems loading its flow or world are failures of the scenario.
  public mutating func run(_ scenario: Scenario) -> Result {
    let started = ContinuousClock.now
    var result = Result(scenario: scenario, flowID: "", failures: [], traces: [], seconds: 0)
    defer {
      let elapsed = ContinuousClock.now - started
      result.seconds =
        Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
    func fail(_ message: String, _ location: SourceLocation) {
      result.failures.append(Failure(message: message, location: location))
    }
    guard let flow = flow(at: scenario.flowPath, failing: { fail($0, scenario.location) }) else {
      return result
    }
    result.flowID = flow.id
    guard let world = world(at: scenario.worldPath, failing: { fail($0, scenario.location) }) else {
      return result
    }
    let run: DryRun
    do {
      run = try DryRun(
        flow: flow, world: world, actor: scenario.actor, target: scenario.target,
        seed: scenario.seed)
    } catch {
      fail("\(error)", scenario.location)
      return result
    }
    var coverage = self.coverage[flow.id] ?? Coverage(flow: flow)
    coverage.record(run.startTrace, flow: flow, initialState: flow.start)
    result.traces.append(run.startTrace)
    if let start = scenario.start {
      check(start, trace: run.startTrace, deliveries: run.newDeliveries(), run: run, fail: fail)
    } else {
      _ = run.newDeliveries()
    }
    for step in scenario.steps {
      switch step {
      case .wait(let seconds, let expect, let location):
        let fired = run.wait(seconds)
        for trace in fired { coverage.record(trace, flow: flow, initialState: nil) }
        result.traces += fired
        let deliveries = run.newDeliveries()
        let merged = Self.merged(fired, state: run.session.state)
        if let expect {
          check(expect, trace: merged, deliveries: deliveries, run: run, fail: fail)
        } else if let rejection = merged.rejection {
          fail("a timer's firing was refused (\(rejection.kind)): \(rejection)", location)
        }
      case .send(let event, let payload, let expect, let location):
        let stepResult = run.send(event, payload)
        for trace in stepResult.timers { coverage.record(trace, flow: flow, initialState: nil) }
        coverage.record(stepResult.trace, flow: flow, initialState: nil)
        result.traces += stepResult.timers + [stepResult.trace]
        let deliveries = run.newDeliveries()
        if let expect {
          check(expect, trace: stepResult.trace, deliveries: deliveries, run: run, fail: fail)
        } else if let rejection = stepResult.trace.rejection {
          fail("'\(event)' was rejected (\(rejection.kind)): \(rejection)", location)
        }
      }
    }
    if let final = scenario.final {
      check(final, trace: nil, deliveries: [], run: run, fail: fail)
    }
    self.coverage[flow.id] = coverage
    return result
  }

  /// The timers one wait fired, as one step: every transition and effect in order, the first
  /// refusal if one was refused.
  static func merged(_ traces: [StepTrace], state: String) -> StepTrace {
    StepTrace(
      event: nil, payload: [], from: traces.first?.from ?? state, to: traces.last?.to ?? state,
      rejection: traces.lazy.compactMap(\.rejection).first,
      transitions: traces.flatMap(\.transitions), outcome: traces.last?.outcome,
      timer: traces.first?.timer)
  }

  private mutating func flow(at path: String, failing: (String) -> Void) -> CompiledFlow? {
    if let flow = flows[path] { return flow }
    let document = FlowDocument.load(path: path, catalog: AccountSecurityCatalog.catalog)
    guard let flow = document.compiled() else {
      let first = document.diagnostics.first { $0.severity == .error }
      failing(
        "the flow \(path) is invalid: \(first.map { "\($0.location): \($0.message)" } ?? "unreadable")"
      )
      return nil
    }
    flows[path] = flow
    return flow
  }

  private mutating func world(at path: String, failing: (String) -> Void) -> AccountSecurityState? {
    if let world = worlds[path] { return world }
    let loaded = WorldFile.load(path: path)
    guard let state = loaded.state else {
      let first = loaded.diagnostics.first { $0.severity == .error }
      failing(
        "the world \(path) is invalid: \(first.map { "\($0.location): \($0.message)" } ?? "unreadable")"
      )
      return nil
    }
    worlds[path] = state
    return state
  }

  private func check(
    _ expect: Scenario.Expectation, trace: StepTrace?, deliveries: [OutboundMessage], run: DryRun,
    fail: (String, SourceLocation) -> Void
  ) {
    let at = expect.location
    let session = run.session
    if let state = expect.state, session.state != state {
      fail("expected state '\(state)', but the session is in '\(session.state)'", at)
    }
    if let outcome = expect.outcome, session.outcome != outcome {
      fail(
        "expected outcome '\(outcome)', but it is \(session.outcome.map { "'\($0)'" } ?? "none (not final)")",
        at)
    }
    if let trace {
      let wantAccepted = expect.accepted ?? (expect.rejected == nil)
      if wantAccepted && !trace.accepted {
        fail(
          "expected the event to be accepted, but it was rejected (\(trace.rejection!.kind)): \(trace.rejection!)",
          at)
      }
      if !wantAccepted && trace.accepted {
        fail(
          "expected the event to be rejected, but it was accepted (\(trace.from) → \(trace.to))", at
        )
      }
      if let kind = expect.rejected, let rejection = trace.rejection, rejection.kind != kind {
        fail("expected a rejection of kind '\(kind)', got '\(rejection.kind)': \(rejection)", at)
      }
      if let effects = expect.effects {
        let performed = trace.effects.map(\.action)
        if performed != effects {
          fail(
            "expected effects [\(effects.joined(separator: ", "))], got [\(performed.joined(separator: ", "))]",
            at)
        }
      }
      if let delivered = expect.delivered {
        for wanted in delivered {
          let destination = (try? PhoneNumber(parsing: wanted.to).e164) ?? wanted.to
          let matching = deliveries.filter { $0.destination == destination }
          let ok = matching.contains { message in
            wanted.code.map { $0 == (message.code != nil) } ?? true
          }
          if !ok {
            let kind =
              wanted.code == true
              ? "a code" : wanted.code == false ? "a message without a code" : "a message"
            fail(
              "expected \(kind) delivered to \(PhoneNumber.mask(destination)); got \(matching.count) message(s) there",
              at)
          }
        }
        if delivered.isEmpty && !deliveries.isEmpty {
          fail("expected no delivery, got \(deliveries.count)", at)
        }
      }
    }
    let world = run.services.snapshot
    for (id, facts) in expect.users {
      guard let user = world.users[id] else {
        fail("unknown user '\(id)'", at)
        continue
      }
      for (field, value) in facts.sorted(by: { $0.key < $1.key }) {
        let actual: Value =
          switch field {
          case "phone": .string(user.phone.e164)
          case "twoFactor": .bool(user.twoFactor.enabled)
          case "channel": .string(user.twoFactor.channel.rawValue)
          case "role": .string(user.role.rawValue)
          case "phoneVerified": .bool(user.phoneVerified)
          default: .string(user.email)
          }
        var expected = value
        if field == "phone", case .string(let text) = value,
          let parsed = try? PhoneNumber(parsing: text)
        {
          expected = .string(parsed.e164)
        }
        if actual != expected {
          let show = { (value: Value) in
            field == "phone"
              ? PhoneNumber.mask("\(value)".replacingOccurrences(of: "\"", with: "")) : "\(value)"
          }
          fail("expected \(id).\(field) to be \(show(expected)), but it is \(show(actual))", at)
        }
      }
    }
    for (line, user) in expect.routes.sorted(by: { $0.key < $1.key })
    where world.route(for: line) != user {
      fail(
        "expected calls to \(line) to ring \(user), but they ring \(world.route(for: line) ?? "nobody")",
        at)
    }
  }
}
