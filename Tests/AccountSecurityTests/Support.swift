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
    let path = packageRoot.appendingPathComponent(relativePath).path
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
  init(_ path: String, actor: String, target: String, seed: UInt64 = 7) throws {
    flow = try Self.flow(path)
    clock = ManualClock()
    services = InMemoryAccountSecurity(
      state: Self.team(), clock: clock, codes: SeededCodeGenerator(seed: seed))
    runner = FlowRunner(flow: flow, services: services, clock: clock)
    let facts = try services.facts(actor: actor, target: target).get()
    let started = try runner.start(sessionID: "session-1", facts: facts)
    session = started.session
    traces.append(started.trace)
  }

  /// Sends an event; returns the step's trace.
  @discardableResult
  mutating func send(_ event: String, _ payload: [String: Value] = [:]) -> StepTrace {
    let result = runner.send(session, event, payload)
    session = result.session
    traces.append(result.trace)
    return result.trace
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
