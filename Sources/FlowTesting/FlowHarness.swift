public import AccountSecurity
public import FlowEngine
public import Testing

/// Steps a flow on an in-memory world, for tests written with Swift Testing.
///
/// ```swift
/// let harness = try FlowHarness(flow: "flows/update-own-2fa-phone.yaml", world: team, actor: "ada")
/// harness.send("disable2FA")
/// harness.send("submitCode", ["code": .string(harness.receivedCode!)])
/// harness.expectState("editingPhone")
/// ```
///
/// Every assertion that fails records an issue with the whole trace so far, so the test log
/// shows how the session got where it is.
public final class FlowHarness {
  public let flow: CompiledFlow
  public let dryRun: DryRun
  /// Every step so far, the start included.
  public private(set) var traces: [StepTrace]

  /// Why a harness could not be made.
  public struct SetupError: Error, CustomStringConvertible {
    public var description: String
  }

  /// Loads, validates and compiles the flow at `path` (any diagnostic error is a setup error).
  public convenience init(
    flow path: String, world: AccountSecurityState, actor: String, target: String? = nil,
    seed: UInt64 = 2_026
  ) throws {
    let document = FlowDocument.load(path: path, catalog: AccountSecurityCatalog.catalog)
    guard let compiled = document.compiled() else {
      throw SetupError(
        description: DiagnosticRenderer().render(document.diagnostics, in: document.source))
    }
    try self.init(flow: compiled, world: world, actor: actor, target: target, seed: seed)
  }

  public init(
    flow: CompiledFlow, world: AccountSecurityState, actor: String, target: String? = nil,
    seed: UInt64 = 2_026
  ) throws {
    self.flow = flow
    do {
      dryRun = try DryRun(
        flow: flow, world: world, actor: actor, target: target ?? actor, seed: seed)
    } catch {
      throw SetupError(description: "\(error)")
    }
    traces = [dryRun.startTrace]
  }

  // MARK: - Stepping

  /// Sends an event; `$received` as a payload value stands for the code just delivered.
  @discardableResult
  public func send(_ event: String, _ payload: [String: Value] = [:]) -> StepTrace {
    let result = dryRun.send(event, payload)
    traces.append(result.trace)
    return result.trace
  }

  /// Moves the simulated clock forward; timers that fall due fire (their traces are kept).
  public func advance(by seconds: Int) {
    traces += dryRun.wait(seconds)
  }

  /// Moves the simulated clock forward by a duration such as `11m`.
  public func advance(_ duration: String) {
    guard let seconds = Value.parseDuration(duration) else {
      Issue.record("'\(duration)' is not a duration such as 11m, 30s or 2h")
      return
    }
    advance(by: seconds)
  }

  // MARK: - Looking

  public var session: Session { dryRun.session }
  public var state: String { dryRun.session.state }
  public var outcome: String? { dryRun.session.outcome }
  /// The events the current state accepts.
  public var availableEvents: [String] { flow.states[dryRun.session.stateID].acceptedEvents }
  /// The world as it is now.
  public var world: AccountSecurityState { dryRun.services.snapshot }
  /// Messages delivered to a phone number or email address.
  public func inbox(of destination: String) -> [OutboundMessage] {
    let canonical = (try? PhoneNumber(parsing: destination).e164) ?? destination
    return world.inbox(of: canonical)
  }
  /// The code a person would read off the phone the flow is verifying.
  public var receivedCode: String? { dryRun.receivedCode }

  /// The session, encoded (a stable, versioned snapshot).
  public func snapshot() -> [UInt8] { dryRun.session.encoded(key: dryRun.services.sessionKey) }

  /// Continues from an encoded snapshot of a session of the same flow.
  public func restore(_ snapshot: [UInt8]) throws {
    try dryRun.restore(Session.decode(snapshot, for: flow, key: dryRun.services.sessionKey))
  }

  /// The steps so far, one line each, with guards, effects and rejections.
  public var transcript: String {
    traces.map { trace in
      var line = "\(trace.timer ?? trace.event ?? "start"): "
      if let rejection = trace.rejection {
        line += "rejected in \(trace.from): \(rejection)"
      } else {
        line += trace.transitions.map { "\($0.from) → \($0.to)" }.joined(separator: ", ")
        let effects = trace.effects.map(\.description)
        if !effects.isEmpty { line += " [" + effects.joined(separator: "; ") + "]" }
      }
      return line
    }.joined(separator: "\n")
  }

  // MARK: - Assertions

  /// The session is in `state`.
  public func expectState(
    _ expected: String, sourceLocation: Testing.SourceLocation = #_sourceLocation
  ) {
    if state != expected {
      Issue.record(
        "expected state '\(expected)', the session is in '\(state)'\n\(transcript)",
        sourceLocation: sourceLocation)
    }
  }

  /// The session ended with `expected`.
  public func expectOutcome(
    _ expected: String, sourceLocation: Testing.SourceLocation = #_sourceLocation
  ) {
    if outcome != expected {
      Issue.record(
        "expected outcome '\(expected)', got \(outcome.map { "'\($0)'" } ?? "none (in \(state))")\n\(transcript)",
        sourceLocation: sourceLocation)
    }
  }

  /// The step was accepted.
  public func expectAccepted(
    _ trace: StepTrace, sourceLocation: Testing.SourceLocation = #_sourceLocation
  ) {
    if let rejection = trace.rejection {
      Issue.record(
        "expected '\(trace.timer ?? trace.event ?? "start")' to be accepted: \(rejection)\n\(transcript)",
        sourceLocation: sourceLocation)
    }
  }

  /// The step was rejected, with a rejection of `kind` (`not-accepted`, `guard-false`, …).
  public func expectRejected(
    _ trace: StepTrace, kind: String, sourceLocation: Testing.SourceLocation = #_sourceLocation
  ) {
    guard let rejection = trace.rejection else {
      Issue.record(
        "expected '\(trace.timer ?? trace.event ?? "start")' to be rejected (\(kind)), it went \(trace.from) → \(trace.to)\n\(transcript)",
        sourceLocation: sourceLocation)
      return
    }
    if rejection.kind != kind {
      Issue.record(
        "expected a rejection of kind '\(kind)', got \(rejection.kind): \(rejection)\n\(transcript)",
        sourceLocation: sourceLocation)
    }
  }

  /// The step performed exactly these actions, in order.
  public func expectEffects(
    _ trace: StepTrace, _ actions: [String],
    sourceLocation: Testing.SourceLocation = #_sourceLocation
  ) {
    let performed = trace.effects.map(\.action)
    if performed != actions {
      Issue.record(
        "expected effects \(actions), got \(performed)\n\(transcript)",
        sourceLocation: sourceLocation)
    }
  }
}
