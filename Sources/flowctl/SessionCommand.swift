import AccountSecurity
import ArgumentParser
import FlowEngine
import Foundation
import SQLiteStore

/// `flowctl session`: real sessions on a store, one process per step.
struct SessionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "session",
    abstract: "Start, step and show sessions kept in a store, one process per step.",
    discussion: """
      Nothing persists between commands but the store file: each step loads the
      session, reads the directory's facts, performs the flow's actions and
      commits the new session (its seq one higher), the directory's changes, the
      audit and the outbox together, then delivers. A session runs on the flow
      text it started on, even after the file changes.

      Example (the own-number procedure; the code is read off the simulated
      phone):
        s=build/team.sqlite
        flowctl store init $s --world examples/team.yaml
        id=$(flowctl session start flows/update-own-2fa-phone.yaml \\
          --store $s --actor ada --json | jq -r .session)
        flowctl session send "$id" disable2FA --store $s
        code=$(flowctl store inbox $s +15550100001 --last-code)
        flowctl session send "$id" submitCode code=$code --store $s
      """,
    subcommands: [SessionStartCommand.self, SessionSendCommand.self, SessionShowCommand.self]
  )
}

/// What `start` and `send` share: printing a step and its exit status.
struct StepPrinter {
  var json: Bool

  func print(_ step: SessionEngine.Step, deliveries: [OutboundMessage]) {
    let renderer = TraceRenderer(
      json: json, color: !json && Terminal.colorEnabled(for: Terminal.standardOutput))
    if json {
      var object = renderer.jsonObject(step.trace, deliveries: deliveries)
      object["session"] = step.session.id
      object["seq"] = step.session.seq
      if object["outcome"] == nil, let outcome = step.session.outcome, step.accepted {
        object["outcome"] = outcome
      }
      if !step.timers.isEmpty {
        // Timers that had fallen due fired first, each its own step.
        object["timers"] = step.timers.map { renderer.jsonObject($0, deliveries: []) }
      }
      Swift.print(TraceRenderer.line(object), terminator: "")
    } else {
      Swift.print(renderer.steps(step.timers, deliveries: []), terminator: "")
      Swift.print(renderer.step(step.trace, deliveries: deliveries), terminator: "")
      let position =
        step.session.outcome.map { "final, outcome \($0)" } ?? "in \(step.session.state)"
      Swift.print("session \(step.session.id) · seq \(step.session.seq) · \(position)")
    }
  }

  /// Takes the step, prints it with what it queued, then delivers, and exits 3 when it was
  /// rejected (or with the status of the failure). Once the step has committed, its outcome
  /// is what the exit status reports: a delivery that fails afterwards stays queued (the next
  /// command or `flowctl store dispatch` sends it) and is only warned about.
  static func take(
    json: Bool, on store: any DurableStore, _ step: () async throws -> SessionEngine.Step
  ) async throws {
    let taken: SessionEngine.Step
    do {
      taken = try await step()
    } catch {
      throw StoreExit.report(error)
    }
    let queued = (try? await store.queued(by: taken)) ?? []
    StepPrinter(json: json).print(taken, deliveries: queued)
    Terminal.flush()
    do {
      try await store.dispatch()
    } catch {
      Terminal.writeError(
        "warning: the step is committed, but its deliveries stay queued: \(error) (flowctl store dispatch sends them)\n"
      )
    }
    if !taken.accepted { throw ExitCode(StoreExit.rejected) }
  }
}

extension SessionEngine {
  /// The engine of the store commands: the 2FA catalog, the wall clock.
  init(commandsOn store: any DurableStore) {
    // The store's clock: a dry-run store's may have been moved forward (store tick --at).
    self.init(store: store, catalog: AccountSecurityCatalog.catalog, clock: store.clock)
  }
}

struct SessionStartCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "start",
    abstract: "Start a session of a flow on a store and print its first step.",
    discussion: """
      The store keeps the flow's text by content hash; the session runs on it
      until it ends. The session id (128-bit random) is printed, and with --json
      is the "session" field.

      Exit status: 0 started; 1 invalid flow or unknown user; 3 the start was
      rejected; 5 a store error.
      """
  )

  @Argument(help: "The flow file.", completion: .file(extensions: ["yaml", "yml"]))
  var flow: String

  @OptionGroup var store: StoreOptions

  @Option(help: "The id of the user who is signed in.")
  var actor: String

  @Option(help: "The id of the user whose number changes (default: the actor).")
  var target: String?

  @Flag(
    help: "Print the step as one JSON object (that of flowctl run --json, plus session and seq).")
  var json = false

  func run() async throws {
    let compiled = try FlowInput.flow(flow)
    let opened = try await store.open()
    let engine = SessionEngine(commandsOn: opened)
    let subjects = ["actor": actor, "target": target ?? actor]
    try await StepPrinter.take(json: json, on: opened) {
      try await engine.start(flow: compiled.sourceBytes, path: flow, subjects: subjects)
    }
  }
}

struct SessionSendCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "send",
    abstract: "Send one event to a session kept in a store.",
    discussion: """
      The payload is given as FIELD=VALUE pairs (editPhone phone=+15550109999;
      submitCode code=123456); values are checked against the event's declared
      fields. With --seq, the step applies only if the session is still at that
      seq (flowctl session show prints it); if another step came first, nothing
      changes and the exit status is 4.

      Exit status: 0 accepted; 1 bad input (a malformed FIELD=VALUE) or unknown
      session; 3 rejected (the reason is printed; nothing changed but the audit
      log); 4 conflict (a stale --seq); 5 a store error (no store tables, a
      missing or wrong key, the file locked past the timeout or full, a session
      row tampered with).
      """
  )

  @Argument(help: "The session id.")
  var id: String

  @Argument(help: "The event name.")
  var event: String

  @Argument(help: "The payload, as FIELD=VALUE pairs.")
  var payload: [String] = []

  @OptionGroup var store: StoreOptions

  @Option(help: "The seq the session must be at for the step to apply.")
  var seq: Int?

  @Flag(
    help: "Print the step as one JSON object (that of flowctl run --json, plus session and seq).")
  var json = false

  func run() async throws {
    var fields: [String: Value] = [:]
    for pair in payload {
      guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
        Terminal.writeError(
          "error: payload '\(pair)' is not FIELD=VALUE (for example phone=+15550109999)\n")
        throw ExitCode(StoreExit.badInput)
      }
      let name = String(pair[..<equals])
      guard fields[name] == nil else {
        Terminal.writeError("error: payload field '\(name)' is given twice\n")
        throw ExitCode(StoreExit.badInput)
      }
      fields[name] = .string(String(pair[pair.index(after: equals)...]))
    }
    let opened = try await store.open()
    let engine = SessionEngine(commandsOn: opened)
    try await StepPrinter.take(json: json, on: opened) {
      try await engine.send(session: id, event: event, payload: fields, expectedSeq: seq)
    }
  }
}

struct SessionShowCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "show",
    abstract: "Show a session kept in a store: its flow text, state and seq.",
    discussion: """
      --json prints {"id", "flow", "version", "contentHash", "state", "seq",
      "final", "outcome", "startedAt", "updatedAt", "expiresAt", "dueAt"}, times
      in ISO 8601 UTC; dueAt is when the session's next timer falls due (null
      when none is pending; flowctl store tick fires it).

      Exit status: 0 shown; 1 unknown session; 5 a store error (a tampered row
      included).
      """
  )

  @Argument(help: "The session id.")
  var id: String

  @OptionGroup var store: StoreOptions

  @Flag(help: "Print one JSON object.")
  var json = false

  func run() async throws {
    let opened = try await store.open()
    let engine = SessionEngine(commandsOn: opened)
    let row: StoredSession
    let flow: CompiledFlow
    do {
      (row, _, flow) = try await engine.show(session: id)
    } catch {
      throw StoreExit.report(error)
    }
    if json {
      let object: [String: Any] = [
        "id": row.id, "flow": row.flowID, "version": row.flowVersion,
        "contentHash": row.contentHash, "state": row.state, "seq": row.seq,
        "final": row.isFinal, "outcome": row.outcome ?? NSNull(),
        "startedAt": AuditTime.iso8601(row.startedAt),
        "updatedAt": AuditTime.iso8601(row.updatedAt),
        "expiresAt": AuditTime.iso8601(row.expiresAt),
        "dueAt": row.dueAt.map { AuditTime.iso8601($0) } ?? NSNull(),
      ]
      print(TraceRenderer.line(object), terminator: "")
      return
    }
    print(
      """
      session \(row.id)
        flow      \(row.flowID) v\(row.flowVersion) (\(flow.title))
        text      \(row.contentHash)
        state     \(row.state)\(row.outcome.map { " (final, outcome \($0))" } ?? "")
        seq       \(row.seq)
        started   \(AuditTime.iso8601(row.startedAt))
        updated   \(AuditTime.iso8601(row.updatedAt))
        expires   \(AuditTime.iso8601(row.expiresAt))
        next timer \(row.dueAt.map { AuditTime.iso8601($0) } ?? "none")
      """)
  }
}
