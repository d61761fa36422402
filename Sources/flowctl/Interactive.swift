import AccountSecurity
import FlowEngine

/// The prompt of `flowctl run` without an events file.
struct Interactive {
  let dryRun: DryRun
  let renderer: TraceRenderer

  /// Runs until a final state, 'quit' or the end of input; true when no event was rejected.
  func loop() -> Bool {
    var allAccepted = true
    while !dryRun.session.isFinal {
      showState()
      guard let line = prompt("event> ") else { break }
      let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
      guard let command = words.first else { continue }
      switch command {
      case "quit", "exit":
        return allAccepted
      case "help", "?":
        say(
          "Type an event name, optionally with its payload (editPhone +15550109999 or phone=+15550109999),\n"
            + "'wait 11m' to move the simulated clock (timers that fall due fire), or 'quit'. $received stands for the code just delivered.\n"
        )
      case "wait":
        guard words.count == 2, let seconds = Value.parseDuration(words[1]) else {
          say("wait takes a duration such as 11m, 30s or 2h\n")
          continue
        }
        let fired = dryRun.wait(seconds)
        if let text = renderer.wait(seconds) { say(text) }
        say(renderer.steps(fired, deliveries: dryRun.newDeliveries()))
        allAccepted = allAccepted && fired.allSatisfy(\.accepted)
      default:
        guard let payload = payload(for: command, words: Array(words.dropFirst())) else {
          return allAccepted
        }
        let result = dryRun.send(command, payload)
        allAccepted = allAccepted && result.accepted && result.timers.allSatisfy(\.accepted)
        say(renderer.steps(result.timers + [result.trace], deliveries: dryRun.newDeliveries()))
      }
    }
    return allAccepted
  }

  private func showState() {
    let flow = dryRun.flow
    let state = flow.states[dryRun.session.stateID]
    var text = "\nstate \(state.name)"
    if let description = state.description { text += ": \(description)" }
    text += "\n"
    for option in dryRun.preview() {
      let fields = option.fields.isEmpty ? "" : " <" + option.fields.joined(separator: "> <") + ">"
      text += "  " + (option.event + fields).padding(to: 28) + " \(option.outcome)\n"
    }
    say(text)
  }

  /// The payload from `field=value` words, a single positional value, or prompts.
  private func payload(for event: String, words: [String]) -> [String: Value]? {
    let flow = dryRun.flow
    guard let eventID = flow.eventIndex[event] else { return [:] }
    let fields = flow.events[eventID].fields.map(\.name)
    var payload: [String: Value] = [:]
    for word in words {
      if let equals = word.firstIndex(of: "=") {
        payload[String(word[..<equals])] = .string(String(word[word.index(after: equals)...]))
      } else if fields.count == 1 {
        payload[fields[0]] = .string(word)
      }
    }
    for field in fields where payload[field] == nil {
      let hint = field == "code" ? " ($received for the code just delivered)" : ""
      guard let value = prompt("  \(field)\(hint): ") else { return nil }
      payload[field] = .string(value.trimmingWhitespace())
    }
    return payload
  }

  private func prompt(_ text: String) -> String? {
    say(text)
    return readLine(strippingNewline: true)
  }

  private func say(_ text: String) {
    print(text, terminator: "")
    Terminal.flush()
  }
}

extension String {
  func padding(to width: Int) -> String {
    count >= width ? self : self + String(repeating: " ", count: width - count)
  }

}
