import AccountSecurity
import FlowEngine
import Foundation
import Testing

/// A team of two accounts, the flows, and a runner per flow over fresh in-memory services.
struct Harness: CustomStringConvertible {
  var description: String { "session in \(session.state) of \(flow)" }

  static let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  static func flow(_ relativePath: String) throws -> CompiledFlow {
    let path =
      relativePath.hasPrefix("/")
      ? relativePath : packageRoot.appendingPathComponent(relativePath).path
    let document = FlowDocument.load(path: path, catalog: AccountSecurityCatalog.catalog)
    let rendered = DiagnosticRenderer().render(document.diagnostics, in: document.source)
    return try #require(document.compiled(), "\(rendered)")
  }

  static let ownFlowPath = "flows/update-own-2fa-phone.yaml"
  static let teamFlowPath = "flows/update-team-member-2fa-phone.yaml"

  static func phone(_ text: String) -> PhoneNumber {
    try! PhoneNumber(parsing: text)
  }

  /// acme: Ada (admin, 2FA on), Alan (admin, 2FA off), Tess (technician), Mia (manager);
  /// globex: Gus (admin), Gina (technician).
  static func team() -> AccountSecurityState {
    var state = AccountSecurityState()
    state.add(Account(id: "acme", name: "Acme Plumbing"))
    state.add(Account(id: "globex", name: "Globex HVAC"))
    let users = [
      User(
        id: "ada", name: "Ada Admin", role: .admin, account: "acme", phone: phone("+15550100001"),
        email: "ada@acme.test", twoFactor: .init(enabled: true)),
      User(
        id: "alan", name: "Alan Admin", role: .admin, account: "acme", phone: phone("+15550100002"),
        email: "alan@acme.test", twoFactor: .init(enabled: false)),
      User(
        id: "tess", name: "Tess Tech", role: .technician, account: "acme",
        phone: phone("+15550100003"),
        email: "tess@acme.test", twoFactor: .init(enabled: true)),
      User(
        id: "mia", name: "Mia Manager", role: .manager, account: "acme",
        phone: phone("+15550100004"),
        email: "mia@acme.test", twoFactor: .init(enabled: true)),
      User(
        id: "gus", name: "Gus Admin", role: .admin, account: "globex", phone: phone("+15550200001"),
        email: "gus@globex.test", twoFactor: .init(enabled: true)),
      User(
        id: "gina", name: "Gina Tech", role: .technician, account: "globex",
        phone: phone("+15550200002"),
        email: "gina@globex.test", twoFactor: .init(enabled: true)),
    ]
    for user in users { state.add(user) }
    state.routes = [
      CallRoute(line: "+15550199000", userID: "ada"), CallRoute(line: "ext-12", userID: "tess"),
    ]
    return state
  }

  let flow: CompiledFlow
  let clock: ManualClock
  let services: InMemoryAccountSecurity
  let runner: FlowRunner
  var session: Session
  var traces: [StepTrace] = []

  /// Starts a session of the flow at `path` for `actor` and `target`.
  /// Users in `emailChannel` get their sign-in codes by email.
  init(
    _ path: String, actor: String, target: String, seed: UInt64 = 7,
    emailChannel: Set<String> = []
  ) throws {
    flow = try Self.flow(path)
    clock = ManualClock()
    var world = Self.team()
    for id in emailChannel { world.users[id]?.twoFactor.channel = .email }
    services = InMemoryAccountSecurity(
      state: world, clock: clock, codes: SeededCodeGenerator(seed: seed),
      sessionKey: testSessionKey)
    runner = FlowRunner(flow: flow, services: services, clock: clock)
    let facts = try services.facts(actor: actor, target: target).get()
    let started = try runner.start(sessionID: "session-1", facts: facts)
    session = started.session
    traces.append(started.trace)
  }

  /// Sends an event; returns the step's trace.
  @discardableResult
  mutating func send(_ event: String, _ payload: [String: Value] = [:]) -> StepTrace {
    let result = try! runner.send(session, event, payload)
    session = result.session
    traces.append(result.trace)
    return result.trace
  }

  /// Moves the clock forward; the timers that fall due fire, in order.
  mutating func wait(_ seconds: Int) {
    clock.advance(by: seconds)
    let fired = try! runner.fireDue(session)
    session = fired.last?.session ?? session
    traces += fired.map(\.trace)
  }

  /// The last code delivered to `destination`, read off the simulated inbox like a person would.
  func lastCode(to destination: String) -> String? {
    services.snapshot.inbox(of: destination).last { $0.code != nil }?.code
  }

  /// Every code ever delivered.
  var issuedCodes: [String] { services.snapshot.outbox.compactMap(\.code) }

  var state: AccountSecurityState { services.snapshot }

  func user(_ id: String) -> User { state.users[id]! }
}

/// One step of a scripted run: an event, a wait, or a code read off a phone's inbox.
enum ScriptStep: Sendable, CustomStringConvertible {
  case event(String, [String: Value] = [:])
  /// `submitCode` with the last code delivered to this destination.
  case codeFrom(String)
  case wait(Int)

  var description: String {
    switch self {
    case .event(let name, _): name
    case .codeFrom(let destination): "submitCode(code from \(destination))"
    case .wait(let seconds): "wait \(seconds)s"
    }
  }
}

struct Script: Sendable, CustomStringConvertible {
  var name: String
  var flow: String
  var actor: String
  var target: String
  var steps: [ScriptStep]

  var description: String { name }

  /// Plays the steps from `start` (default all); returns the harness afterwards.
  func play(_ run: inout Harness, from start: Int = 0, to end: Int? = nil) {
    for step in steps[start..<(end ?? steps.count)] {
      switch step {
      case .event(let name, let payload): run.send(name, payload)
      case .codeFrom(let destination):
        run.send("submitCode", ["code": .string(run.lastCode(to: destination) ?? "000000")])
      case .wait(let seconds): run.wait(seconds)
      }
    }
  }

  static let newNumber = "+15550109999"

  /// Runs that together rest in every state of both shipped flows.
  static let all: [Script] = [
    Script(
      name: "own: idle after disabling 2FA", flow: Harness.ownFlowPath, actor: "ada",
      target: "ada",
      steps: [.event("disable2FA"), .codeFrom("+15550100001"), .wait(15 * 60)]),
    Script(
      name: "own: happy path", flow: Harness.ownFlowPath, actor: "ada", target: "ada",
      steps: [
        .event("disable2FA"), .codeFrom("+15550100001"),
        .event("editPhone", ["phone": .string(newNumber)]),
        .event("editPhone", ["phone": .string("+15550108888")]), .event("save"),
        .event("enable2FA"),
        .event("submitCode", ["code": .string("000001")]), .codeFrom("+15550108888"),
      ]),
    Script(
      name: "own: lockout after a resend", flow: Harness.ownFlowPath, actor: "ada", target: "ada",
      steps: [
        .event("disable2FA"), .event("submitCode", ["code": .string("000001")]), .wait(31),
        .event("resendCode"),
        .event("submitCode", ["code": .string("000001")]),
        .event("submitCode", ["code": .string("000001")]),
        .event("submitCode", ["code": .string("000001")]),
        .event("submitCode", ["code": .string("000001")]),
      ]),
    Script(
      name: "own: no access", flow: Harness.ownFlowPath, actor: "ada", target: "ada",
      steps: [.event("disable2FA"), .event("reportNoAccess")]),
    Script(
      name: "own: cancel while editing", flow: Harness.ownFlowPath, actor: "alan", target: "alan",
      steps: [.event("editPhone", ["phone": .string(newNumber)]), .event("cancel")]),
    Script(
      name: "own: expired code then new one", flow: Harness.ownFlowPath, actor: "alan",
      target: "alan",
      steps: [
        .event("editPhone", ["phone": .string(newNumber)]), .event("save"), .event("enable2FA"),
        .wait(601),
        .codeFrom(newNumber), .event("resendCode"), .codeFrom(newNumber),
      ]),
    Script(
      name: "own: technician denied", flow: Harness.ownFlowPath, actor: "tess", target: "tess",
      steps: []),
    Script(
      name: "team: change a member's number", flow: Harness.teamFlowPath, actor: "ada",
      target: "tess",
      steps: [
        .event("save"), .event("editPhone", ["phone": .string(newNumber)]),
        .event("editPhone", ["phone": .string("+4915112345678")]),
        .event("save"),
      ]),
    Script(
      name: "team: cancel", flow: Harness.teamFlowPath, actor: "ada", target: "mia",
      steps: [.event("editPhone", ["phone": .string(newNumber)]), .event("cancel")]),
    Script(
      name: "team: denied", flow: Harness.teamFlowPath, actor: "tess", target: "mia", steps: []),
  ]
}

/// The key every test's in-memory services sign sessions with, so tests can encode and decode.
let testSessionKey = SessionKey(bytes: Array(repeating: 0x2F, count: 32))!

extension Session {
  /// Encoded with the tests' key.
  func encoded() -> [UInt8] { encoded(key: testSessionKey) }
  var encodedString: String { encodedString(key: testSessionKey) }

  /// Decoded with the tests' key.
  static func decode(_ bytes: [UInt8], for flow: CompiledFlow) throws(DecodingError) -> Session {
    try decode(bytes, for: flow, key: testSessionKey)
  }
}
