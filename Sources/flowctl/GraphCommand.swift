import ArgumentParser
import FlowEngine

/// `flowctl graph`: the state diagram of a flow.
struct GraphCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "graph",
    abstract: "Print the state diagram of a flow as Graphviz DOT or Mermaid.",
    discussion: """
      Start and final states are marked, final states show their outcome, and every edge shows
      its event (or 'always'), its guard and its actions. Eventless decision states are drawn
      as diamonds in DOT.

      Examples:
        flowctl graph flows/update-own-2fa-phone.yaml --format dot | dot -Tsvg > own.svg
        flowctl graph flows/update-team-member-2fa-phone.yaml --format mermaid
      """
  )

  enum Format: String, ExpressibleByArgument, CaseIterable {
    case dot
    case mermaid
  }

  @Argument(help: "The flow file.", completion: .file(extensions: ["yaml", "yml"]))
  var flow: String

  @Option(help: "dot (Graphviz) or mermaid (stateDiagram-v2).")
  var format: Format = .dot

  func run() throws {
    let compiled = try FlowInput.flow(flow)
    switch format {
    case .dot: print(FlowGraph.dot(compiled), terminator: "")
    case .mermaid: print(FlowGraph.mermaid(compiled), terminator: "")
    }
  }
}
