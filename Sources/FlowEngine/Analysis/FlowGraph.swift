/// The state diagram of a compiled flow, as Graphviz DOT or Mermaid `stateDiagram-v2`: start
/// and final states marked, outcomes shown, guards and actions on the edges.
public enum FlowGraph {
  /// One arrow of the diagram: a transition, with what triggers it.
  public struct Edge: Sendable, Hashable {
    public var from: String
    public var to: String
    /// The event that takes it; nil for `always` and timer edges.
    public var trigger: String?
    public var condition: String?
    public var actions: [String]
    /// `after 15m` or `deadline 1h`: a timer's edge, drawn dashed.
    public var timer: String? = nil
  }

  /// Every transition of the flow, state by state; the deadline's edge starts at
  /// `deadlineNode`.
  public static func edges(of flow: CompiledFlow) -> [Edge] {
    var edges: [Edge] = []
    for state in flow.states {
      for (eventID, transitions) in state.handlers.enumerated() {
        for transition in transitions {
          edges.append(
            Edge(
              from: state.name, to: flow.states[transition.target].name,
              trigger: flow.events[eventID].name,
              condition: transition.condition?.text, actions: transition.actions.map(\.name)))
        }
      }
      for transition in state.always {
        edges.append(
          Edge(
            from: state.name, to: flow.states[transition.target].name, trigger: nil,
            condition: transition.condition?.text, actions: transition.actions.map(\.name)))
      }
      for timer in state.timers {
        edges.append(
          Edge(
            from: state.name, to: flow.states[timer.transition.target].name, trigger: nil,
            condition: timer.transition.condition?.text,
            actions: timer.transition.actions.map(\.name), timer: timer.label))
      }
    }
    if let deadline = flow.deadline {
      edges.append(
        Edge(
          from: deadlineNode, to: flow.states[deadline.transition.target].name, trigger: nil,
          condition: nil, actions: deadline.transition.actions.map(\.name),
          timer: "deadline \(Value.format(duration: deadline.seconds))"))
    }
    return edges
  }

  /// The deadline can fall in any state that is not final: its edge starts at this node.
  public static let deadlineNode = "any_state"

  // MARK: - DOT

  public static func dot(_ flow: CompiledFlow) -> String {
    var lines = [
      "digraph \(quoted(flow.id)) {",
      "  label=\(quoted("\(flow.title) (\(flow.id) v\(flow.version))"));",
      "  labelloc=t;",
      "  rankdir=LR;",
      "  node [shape=box, style=rounded, fontname=\"Helvetica\"];",
      "  edge [fontname=\"Helvetica\", fontsize=10];",
      "  \"__start\" [shape=point, width=0.2, label=\"\"];",
      "  \"__start\" -> \(quoted(flow.states[flow.start].name));",
    ]
    for state in flow.states {
      if let outcome = state.outcome {
        lines.append(
          "  \(quoted(state.name)) [peripheries=2, style=\"rounded,bold\", label=\(quoted("\(state.name)\noutcome: \(outcome)"))];"
        )
      } else if !state.always.isEmpty && state.acceptedEvents.isEmpty {
        lines.append("  \(quoted(state.name)) [shape=diamond, style=\"\"];")
      } else {
        lines.append("  \(quoted(state.name));")
      }
    }
    if flow.deadline != nil {
      lines.append(
        "  \(quoted(deadlineNode)) [shape=plaintext, label=\"any state not final\"];")
    }
    for edge in edges(of: flow) {
      var label = edge.timer ?? edge.trigger ?? "always"
      if let condition = edge.condition { label += "\n[\(condition)]" }
      if !edge.actions.isEmpty { label += "\n/ \(edge.actions.joined(separator: ", "))" }
      let style = edge.trigger == nil ? ", style=dashed" : ""
      lines.append("  \(quoted(edge.from)) -> \(quoted(edge.to)) [label=\(quoted(label))\(style)];")
    }
    lines.append("}")
    return lines.joined(separator: "\n") + "\n"
  }

  /// A DOT string literal: quotes and backslashes escaped, line breaks as `\n`.
  static func quoted(_ text: String) -> String {
    var result = "\""
    for character in text {
      switch character {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      default: result.append(character)
      }
    }
    return result + "\""
  }

  // MARK: - Mermaid

  public static func mermaid(_ flow: CompiledFlow) -> String {
    var lines = [
      "---",
      "title: \(mermaidText(flow.title))",
      "---",
      "stateDiagram-v2",
      "    direction LR",
      "    [*] --> \(flow.states[flow.start].name)",
    ]
    if flow.deadline != nil {
      lines.append("    \(deadlineNode) : any state not final")
    }
    for edge in edges(of: flow) {
      var label = edge.timer ?? edge.trigger ?? "always"
      if let condition = edge.condition { label += " when \(condition)" }
      if !edge.actions.isEmpty { label += " / \(edge.actions.joined(separator: ", "))" }
      lines.append("    \(edge.from) --> \(edge.to) : \(mermaidText(label))")
    }
    for state in flow.states {
      guard let outcome = state.outcome else { continue }
      lines.append("    \(state.name) : \(state.name) (outcome \(outcome))")
      lines.append("    \(state.name) --> [*]")
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Mermaid labels end at a line break and treat `:` and `;` specially; quotes are safest as
  /// the typographic kind.
  static func mermaidText(_ text: String) -> String {
    var result = ""
    for character in text {
      switch character {
      case "\n", "\r": result += " "
      case ":": result += "﹕"
      case ";": result += ","
      case "\"": result += "'"
      case "#": result += "no. "
      default: result.append(character)
      }
    }
    return result
  }
}
