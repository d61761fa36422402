import AccountSecurity
import FlowEngine
import Foundation

/// Prints dry-run steps: a readable trace for people (in color on a terminal), or one JSON
/// object per line for tools. Codes never appear: payloads, arguments and deliveries show them
/// hidden; phone numbers are masked.
struct TraceRenderer {
  var json: Bool
  var color: Bool

  private func paint(_ text: String, _ code: String) -> String {
    color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
  }

  private func bold(_ text: String) -> String { paint(text, "1") }

  func header(flow: CompiledFlow, worldPath: String, actor: User, target: User) -> String? {
    guard !json else { return nil }
    return """
      \(bold("flow \(flow.id) v\(flow.version)")): \(flow.title)
      actor \(actor.id) (\(actor.name), \(actor.role.rawValue), \(actor.account)) · target \(target.id) (\(target.name)) · world \(worldPath)


      """
  }

  /// One step; `event` nil for the session's start.
  func step(_ trace: StepTrace, deliveries: [OutboundMessage]) -> String {
    json ? jsonLine(trace, deliveries: deliveries) : text(trace, deliveries: deliveries)
  }

  /// Several steps in order (timers that fired, then an event); the deliveries of all of them
  /// are shown with the last.
  func steps(_ traces: [StepTrace], deliveries: [OutboundMessage]) -> String {
    traces.enumerated().map { index, trace in
      step(trace, deliveries: index == traces.count - 1 ? deliveries : [])
    }.joined()
  }

  func wait(_ seconds: Int) -> String? {
    json ? nil : paint("wait \(Value.format(duration: seconds))", "2") + " (simulated clock)\n"
  }

  func end(_ session: Session, accepted: Bool) -> String {
    if json {
      var object: [String: Any] = ["state": session.state, "final": session.isFinal]
      if let outcome = session.outcome { object["outcome"] = outcome }
      return Self.line(object)
    }
    if let outcome = session.outcome {
      return "\n"
        + paint("■ final state \(session.state), outcome \(outcome)", accepted ? "1;32" : "1;33")
        + "\n"
    }
    return "\n" + paint("□ stopped in \(session.state), which is not final", "1;33") + "\n"
  }

  // MARK: - Text

  private func text(_ trace: StepTrace, deliveries: [OutboundMessage]) -> String {
    if let timer = trace.timer {
      let label = timer.hasPrefix("deadline") ? "\(timer) in \(trace.from)" : timer
      if let rejection = trace.rejection {
        return paint("✗ ⏱ \(label)", "1;31") + " refused (\(rejection.kind)); the timer is spent\n"
          + "    \(rejection)\n"
      }
      var out = paint("⏱ \(label)", "1;36") + " → \(bold(trace.to))\n"
      if trace.transitions.isEmpty { out += "    no condition held; the session stays\n" }
      out += details(trace, deliveries: deliveries)
      return out
    }
    var title = trace.event ?? "start"
    if !trace.payload.isEmpty {
      title += " {" + trace.payload.map { "\($0.name): \($0.value)" }.joined(separator: ", ") + "}"
    }
    var out = ""
    if let rejection = trace.rejection {
      out += paint("✗ \(title)", "1;31") + " rejected in \(bold(trace.from)) (\(rejection.kind))\n"
      out += "    \(rejection)\n"
      for guardTrace in trace.guards { out += "    guard   \(guardLine(guardTrace))\n" }
      return out
    }
    out += paint("▸ \(title)", "1;36") + "  \(trace.from) → \(bold(trace.to))\n"
    return out + details(trace, deliveries: deliveries)
  }

  /// The transitions of an accepted step, their guards and effects, and its deliveries.
  private func details(_ trace: StepTrace, deliveries: [OutboundMessage]) -> String {
    var out = ""
    for transition in trace.transitions {
      let kind =
        transition.timer.map { " (\($0))" } ?? (transition.isEventless ? " (always)" : "")
      out += "  \(transition.from) → \(transition.to)\(kind)\n"
      for guardTrace in transition.guards { out += "    guard   \(guardLine(guardTrace))\n" }
      for effect in transition.effects { out += "    effect  \(effect)\n" }
    }
    for message in deliveries {
      out +=
        "    " + paint("✉ \(message.channel.rawValue) to \(masked(message))", "35")
        + ": \(body(message))\n"
    }
    return out
  }

  private func guardLine(_ trace: GuardTrace) -> String {
    let value = paint(String(trace.value), trace.value ? "32" : "33")
    var line = "\(trace.condition) → \(value)"
    let seen =
      trace.guards.map { "\($0.name)=\($0.value)" } + trace.inputs.map { "\($0.name)=\($0.value)" }
    if !seen.isEmpty { line += paint("  (\(seen.joined(separator: ", ")))", "2") }
    return line
  }

  private func masked(_ message: OutboundMessage) -> String {
    // Outbox rows of a store hold the destination masked already.
    if message.destination.contains("*") { return message.destination }
    return Destination.mask(message.destination)
  }

  /// The message as delivered, with any code replaced: it is in the simulated inbox
  /// (`$received` in an events file reads it).
  private func body(_ message: OutboundMessage) -> String {
    if message.body.isEmpty { return "(queued; sent once the step is committed)" }
    let subject = message.subject.map { "[\($0)] " } ?? ""
    guard let code = message.code else { return subject + message.body }
    return (subject + message.body).replacingOccurrences(
      of: code, with: String(repeating: "•", count: code.count))
      + " (code in the simulated inbox)"
  }

  // MARK: - JSON

  private func jsonLine(_ trace: StepTrace, deliveries: [OutboundMessage]) -> String {
    Self.line(jsonObject(trace, deliveries: deliveries))
  }

  /// The step object of `--json` output (`flowctl session` adds `session` and `seq`).
  func jsonObject(_ trace: StepTrace, deliveries: [OutboundMessage]) -> [String: Any] {
    var object: [String: Any] = [
      "event": trace.event ?? NSNull(),
      "from": trace.from,
      "to": trace.to,
      "accepted": trace.accepted,
      "guards": trace.guards.map { guardTrace -> [String: Any] in
        [
          "guard": guardTrace.condition, "value": guardTrace.value,
          "uses": Dictionary(
            guardTrace.guards.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
          "inputs": Dictionary(
            guardTrace.inputs.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
        ]
      },
      "effects": trace.effects.map { effect -> [String: Any] in
        [
          "action": effect.action,
          "arguments": Dictionary(
            effect.arguments.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
          "results": Dictionary(
            effect.results.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
        ]
      },
      "path": [trace.from] + trace.transitions.map(\.to),
      "deliveries": deliveries.map { ["channel": $0.channel.rawValue, "to": masked($0)] },
    ]
    if let rejection = trace.rejection {
      object["reason"] = rejection.description
      object["rejection"] = rejection.kind
      if case .checkViolated(let check, _) = rejection { object["check"] = check }
    }
    if let outcome = trace.outcome { object["outcome"] = outcome }
    if let timer = trace.timer { object["timer"] = timer }
    return object
  }

  static func line(_ object: [String: Any]) -> String {
    guard
      let data = try? JSONSerialization.data(
        withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    else { return "{}\n" }
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}
