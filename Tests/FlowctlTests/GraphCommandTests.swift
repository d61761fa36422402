import Foundation
import Testing

@Suite("flowctl graph")
struct GraphCommandTests {
  static let flows = ["flows/update-own-2fa-phone.yaml", "flows/update-team-member-2fa-phone.yaml"]

  static var dotPath: String? {
    ["/usr/bin/dot", "/usr/local/bin/dot"].first {
      FileManager.default.isExecutableFile(atPath: $0)
    }
  }

  @Test("DOT output marks start and finals and labels edges", arguments: flows)
  func dotStructure(_ flow: String) throws {
    let result = try Flowctl.run(["graph", flow, "--format", "dot"])
    #expect(result.status == 0)
    let text = result.stdout
    #expect(text.hasPrefix("digraph \""))
    #expect(text.contains("\"__start\" -> \"checkingAccess\";"))
    #expect(text.contains("peripheries=2"))
    #expect(text.contains("outcome: denied"))
    #expect(text.contains("[label=\"editPhone\\n/ stagePhone\"]"))
    #expect(text.hasSuffix("}\n"))
  }

  @Test("timers are dashed edges labelled with their delay; the deadline leaves any state")
  func timers() throws {
    let dot = try Flowctl.run(["graph", Self.flows[0], "--format", "dot"]).stdout
    #expect(
      dot.contains("\"editingPhone\" -> \"expiring\" [label=\"after 15m\", style=dashed];"),
      "\(dot)")
    #expect(dot.contains("\"any_state\" -> \"expiring\" [label=\"deadline 1h\", style=dashed];"))
    #expect(dot.contains("\"any_state\" [shape=plaintext, label=\"any state not final\"];"))
    let mermaid = try Flowctl.run(["graph", Self.flows[0], "--format", "mermaid"]).stdout
    #expect(mermaid.contains("    editingPhone --> expiring : after 15m\n"))
    #expect(mermaid.contains("    any_state --> expiring : deadline 1h\n"))
  }

  @Test("Graphviz accepts the DOT output", .enabled(if: dotPath != nil), arguments: flows)
  func graphvizAccepts(_ flow: String) throws {
    let dot = try Flowctl.run(["graph", flow, "--format", "dot"])
    let source = try Flowctl.temporaryFile(dot.stdout, name: "flow.dot")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Self.dotPath!)
    process.arguments = ["-Tsvg", source.path]
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let svg = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(errors)")
    #expect(errors.isEmpty)
    #expect(svg.contains("<svg"))
  }

  /// Every line is one of the stateDiagram-v2 forms the renderer uses.
  @Test("Mermaid output is stateDiagram-v2", arguments: flows)
  func mermaid(_ flow: String) throws {
    let result = try Flowctl.run(["graph", flow, "--format", "mermaid"])
    #expect(result.status == 0)
    let lines = result.stdout.split(separator: "\n").map(String.init)
    #expect(Array(lines.prefix(4)).count == 4)
    #expect(lines[0] == "---")
    #expect(lines[1].hasPrefix("title: "))
    #expect(lines[2] == "---")
    #expect(lines[3] == "stateDiagram-v2")
    let name = "[A-Za-z][A-Za-z0-9_]*"
    let forms = [
      "^    direction LR$",
      "^    \\[\\*\\] --> \(name)$",
      "^    \(name) --> \\[\\*\\]$",
      "^    \(name) --> \(name) : [^:;\\n]+$",
      "^    \(name) : [^:;\\n]+$",
    ].map { try! NSRegularExpression(pattern: $0) }
    for line in lines.dropFirst(4) {
      let range = NSRange(line.startIndex..., in: line)
      #expect(
        forms.contains { $0.firstMatch(in: line, range: range) != nil },
        "not stateDiagram-v2: \(line)")
    }
    #expect(lines.contains("    [*] --> checkingAccess"))
    #expect(lines.contains("    denied --> [*]"))
  }
}
