import AccountSecurity
import FlowEngine
import Logging
import Testing

/// Random event sequences with random payloads, from a fixed seed: the engine never crashes,
/// never leaves the declared states, never changes a number or 2FA without the proof the flow
/// demands, and every session round-trips through its encoding. A failure names the seed of
/// the sequence, so `replay(seed:)` reproduces it.
@Suite("Random event sequences")
struct RandomSequenceTests {
  static let sequencesPerFlow = 10_000
  static let baseSeed: UInt64 = 0xF10E_2026

  /// SplitMix64: small, fast and reproducible.
  struct Random {
    var state: UInt64
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
  }

  static let users = ["ada", "alan", "tess", "mia", "gus", "gina"]
  static let phones = [
    "+15550109999", "+1 555 010 8888", "5550100", "+1555", "+4915112345678", "not a number",
  ]

  struct Outcome {
    var problems: [String] = []
  }

  /// Runs one random sequence and returns what went wrong (nothing, normally).
  static func run(flowPath: String, flow: CompiledFlow, seed: UInt64) throws -> [String] {
    var random = Random(state: seed)
    let actor = random.pick(users)
    let target = random.next() % 3 == 0 ? actor : random.pick(users)
    var problems: [String] = []
    let clock = ManualClock()
    let services = InMemoryAccountSecurity(
      state: Harness.team(), clock: clock, codes: SeededCodeGenerator(seed: seed),
      sessionKey: testSessionKey)
    let runner = FlowRunner(
      flow: flow, services: services, clock: clock,
      logger: Logger(label: "random") { _ in SwiftLogNoOpLogHandler() })
    let before = services.snapshot
    var session = try runner.start(
      sessionID: "random", facts: services.facts(actor: actor, target: target).get()
    ).session
    let events = flow.events.map(\.name) + ["bogus"]
    for _ in 0..<Int(random.next() % 14) {
      if random.next() % 6 == 0 {
        clock.advance(by: random.pick([5, 31, 9 * 60, 11 * 60]))
        continue
      }
      let event = random.pick(events)
      var payload: [String: Value] = [:]
      if event == "submitCode" {
        let received = services.receivedCode(for: session) ?? "123456"
        payload["code"] = .string(
          random.pick([received, received, "000000", "12ab", "1234567890123"]))
      }
      if event == "editPhone" { payload["phone"] = .string(random.pick(phones)) }
      if random.next() % 20 == 0 { payload["extra"] = .bool(true) }
      // Timers that fell due fire first (as the runner would), so that the event's own
      // step can be judged on its own.
      session = try runner.fireDue(session).last?.session ?? session
      let result = try runner.send(session, event, payload)
      if !result.accepted, result.session != session {
        problems.append("a rejected '\(event)' changed the session")
      }
      session = result.session
      if flow.stateIndex[session.state] != session.stateID {
        problems.append("undeclared state '\(session.state)'")
      }
    }
    // Every random session round-trips through its encoding.
    if (try? Session.decode(session.encoded(), for: flow)) != session {
      problems.append("the session in '\(session.state)' does not round-trip through its encoding")
    }
    let after = services.snapshot
    problems += proofProblems(
      flowPath: flowPath, before: before, after: after, actor: actor, target: target)
    return problems
  }

  /// A number or 2FA setting changed only with the proof the flow demands, read from the
  /// audit log the services keep.
  static func proofProblems(
    flowPath: String, before: AccountSecurityState, after: AccountSecurityState, actor: String,
    target: String
  ) -> [String] {
    var problems: [String] = []
    let old = before.users[target]!
    let new = after.users[target]!
    let kinds = after.audit.map(\.kind)
    let actorUser = before.users[actor]!
    func index(_ kind: AuditEntry.Kind, where detail: String = "") -> Int? {
      after.audit.firstIndex { $0.kind == kind && (detail.isEmpty || $0.detail.contains(detail)) }
    }
    if flowPath == Harness.teamFlowPath {
      if old.phone != new.phone {
        if !(actorUser.role == .admin && actorUser.account == old.account && actor != target) {
          problems.append(
            "\(actor) changed \(target)'s number without being an admin of the account")
        }
        if !kinds.contains(.memberNotified) { problems.append("the member was not notified") }
      }
      if old.twoFactor != new.twoFactor { problems.append("the team flow changed 2FA") }
      return problems
    }
    let disabled = index(.twoFactorDisabled)
    if old.twoFactor.enabled && !new.twoFactor.enabled || disabled != nil {
      guard let verified = index(.verificationSucceeded, where: "disable-2fa"),
        verified < (disabled ?? .max)
      else {
        return problems + ["2FA was turned off without a verified code to the current number"]
      }
    }
    if old.phone != new.phone {
      if actor != target || actorUser.role != .admin {
        problems.append("a non-admin or another user changed the number")
      }
      let changed = index(.phoneChanged)!
      if old.twoFactor.enabled,
        index(.verificationSucceeded, where: "disable-2fa").map({ $0 < changed }) != true
      {
        problems.append(
          "the number changed while 2FA was on without a verified code to the current number")
      }
    }
    if new.twoFactor.enabled, old.phone != new.phone {
      if index(.verificationSucceeded, where: "enable-2fa") == nil {
        problems.append("2FA is on with a new number that no verified code proved")
      }
    }
    return problems
  }

  @Test(
    "random sequences keep every property", arguments: [Harness.ownFlowPath, Harness.teamFlowPath])
  func properties(_ path: String) throws {
    let flow = try Harness.flow(path)
    var failures = 0
    for number in 0..<Self.sequencesPerFlow {
      let seed = Self.baseSeed &+ UInt64(number)
      let problems = try Self.run(flowPath: path, flow: flow, seed: seed)
      if !problems.isEmpty {
        failures += 1
        Issue.record(
          "seed \(seed) (replay: RandomSequenceTests.run(flowPath: \"\(path)\", seed: \(seed))): \(problems)"
        )
        if failures >= 5 { break }
      }
    }
  }

  @Test("the properties catch a flow without its code guard")
  func propertiesCanFail() throws {
    let text = try String(
      contentsOfFile: Harness.packageRoot.appendingPathComponent(Harness.ownFlowPath).path,
      encoding: .utf8)
    // Without its checks too: the engine enforces a flow's checks on every step, and this test
    // is about what the random properties catch on their own.
    let unguarded = text.replacingOccurrences(
      of: "      - to: editingPhone\n        when: codeAccepted\n",
      with: "      - to: editingPhone\n")
    let checks = try #require(unguarded.range(of: "\nchecks:\n"))
    let broken = String(unguarded[..<checks.lowerBound]) + "\n"
    #expect(unguarded != text)
    let flow = try #require(
      FlowDocument.parse(broken, catalog: AccountSecurityCatalog.catalog).compiled())
    var caught = false
    for number in 0..<2_000 where !caught {
      caught =
        !(try Self.run(
          flowPath: Harness.ownFlowPath, flow: flow, seed: Self.baseSeed &+ UInt64(number))).isEmpty
    }
    #expect(caught)
  }
}
