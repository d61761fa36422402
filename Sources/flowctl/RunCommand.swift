import AccountSecurity
import ArgumentParser
import FlowEngine
import Logging

/// `flowctl run`: a dry run of a flow on a simulated world.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Dry-run a flow on a simulated world, from an events file or interactively.",
    discussion: """
      Nothing real is sent anywhere: the world is loaded into memory, the clock is simulated
      and deliveries land in simulated inboxes (shown with masked destinations).

      With --events, the file's events are played in order. An item is an event name, an
      event with its payload, or a wait that moves the simulated clock:

        - disable2FA
        - submitCode: { code: $received }   # the code just delivered to the number being verified
        - wait: 11m
        - editPhone: { phone: "+15550109999" }

      A wait fires, in order, every timer of the flow that falls due during it (an
      `after:` entry's idle timeout, the deadline), and the trace shows each one
      (⏱ after 15m in editingPhone → expiring).

      Without --events, the current state and what each event it accepts would do are shown,
      and the next event is read from the prompt: an event name, optionally followed by its
      payload (editPhone +15550109999, or field=value), 'wait 11m', 'help' or 'quit'.

      Exit status: 0 when a final state was reached and every event was accepted; 2 when the
      run ended in a state that is not final; 3 when any event (or a timer's firing) was
      rejected; 1 when a flow,
      world or events file is invalid, or a user id is unknown.

      Examples:
        flowctl run flows/update-own-2fa-phone.yaml --world examples/team.yaml --actor ada \\
          --events examples/own-number-happy-path.yaml
        flowctl run flows/update-team-member-2fa-phone.yaml --world examples/team.yaml \\
          --actor ada --target tess --json --events examples/team-member-change.yaml
        flowctl run flows/update-own-2fa-phone.yaml --world examples/team.yaml --actor ada
      """
  )

  @Argument(help: "The flow file.", completion: .file(extensions: ["yaml", "yml"]))
  var flow: String

  @Option(help: "The world file: accounts, users and call routes (schemas/world.schema.json).")
  var world: String

  @Option(help: "The id of the user who is signed in.")
  var actor: String

  @Option(help: "The id of the user whose number changes (default: the actor).")
  var target: String?

  @Option(
    help: "An events file to play (schemas/events.schema.json); without it, prompt for events.")
  var events: String?

  @Flag(help: "Print one JSON object per event, then one with the final state.")
  var json = false

  @Option(help: "Seed for the simulated code generator (runs are repeatable).")
  var seed: UInt64 = 2_026

  @Flag(name: .shortAndLong, help: "Also log every step to standard error.")
  var verbose = false

  func run() throws {
    Verbosity.verbose.withLock { $0 = verbose }
    let compiled = try FlowInput.flow(flow)
    let state = try FlowInput.world(world)
    let script = try events.map { try FlowInput.events($0) }
    let targetID = target ?? actor
    for id in [actor, targetID] where state.users[id] == nil {
      let known = state.users.keys.sorted()
      Terminal.writeError(
        "error: unknown user '\(id)'\(Suggestion.hint(for: id, in: known)) in \(world); users: \(known.joined(separator: ", "))\n"
      )
      throw ExitCode(1)
    }
    let dryRun: DryRun
    do {
      dryRun = try DryRun(flow: compiled, world: state, actor: actor, target: targetID, seed: seed)
    } catch {
      Terminal.writeError("error: \(error)\n")
      throw ExitCode(1)
    }
    let renderer = TraceRenderer(
      json: json, color: !json && Terminal.colorEnabled(for: Terminal.standardOutput))
    if let header = renderer.header(
      flow: compiled, worldPath: world, actor: state.users[actor]!, target: state.users[targetID]!)
    {
      emit(header)
    }
    if !json { emit(renderer.step(dryRun.startTrace, deliveries: dryRun.newDeliveries())) }
    var allAccepted = true
    if let script {
      for item in script.items {
        switch item {
        case .wait(let seconds, _):
          let fired = dryRun.wait(seconds)
          if let line = renderer.wait(seconds) { emit(line) }
          emit(renderer.steps(fired, deliveries: dryRun.newDeliveries()))
          allAccepted = allAccepted && fired.allSatisfy(\.accepted)
        case .event(let name, let payload, _):
          let result = dryRun.send(name, payload)
          allAccepted = allAccepted && result.accepted && result.timers.allSatisfy(\.accepted)
          emit(renderer.steps(result.timers + [result.trace], deliveries: dryRun.newDeliveries()))
        }
      }
    } else {
      allAccepted = Interactive(dryRun: dryRun, renderer: renderer).loop()
    }
    emit(renderer.end(dryRun.session, accepted: allAccepted))
    if !allAccepted { throw ExitCode(3) }
    if !dryRun.session.isFinal { throw ExitCode(2) }
  }

  private func emit(_ text: String) {
    print(text, terminator: "")
    Terminal.flush()
  }
}
