import AccountSecurity
import FlowEngine
import Testing

/// Hostile or broken files end in one clear diagnostic with a location: never a crash or a hang.
@Suite("Malformed input")
struct MalformedInputTests {
  private func load(_ bytes: [UInt8]) -> FlowDocument {
    FlowDocument.parse(bytes: bytes, path: "input.yaml", catalog: AccountSecurityCatalog.catalog)
  }

  private func load(_ text: String) -> FlowDocument { load(Array(text.utf8)) }

  private func only(_ document: FlowDocument) throws -> Diagnostic {
    #expect(document.definition == nil)
    #expect(document.diagnostics.count == 1, "\(document.diagnostics)")
    return try #require(document.diagnostics.first)
  }

  @Test func syntaxError() throws {
    let diagnostic = try only(load("flow: x\nstates: [a, b\nstart: a\n"))
    #expect(diagnostic.code == .yamlSyntax)
    #expect(diagnostic.location.line >= 2)
  }

  @Test func aliasBombIsRefused() throws {
    var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1...12 {
      let previous = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
      text += "a\(level): &a\(level) [\(previous)]\n"
    }
    let diagnostic = try only(load(text))
    #expect(diagnostic.code == .limitExceeded)
    #expect(diagnostic.message.contains("aliases"))
    #expect(diagnostic.location.line > 1)
  }

  @Test func hugeScalarIsRefusedWithItsLocation() throws {
    let text = "flow: x\ntitle: " + String(repeating: "a", count: 10 * 1024 * 1024) + "\n"
    let diagnostic = try only(load(text))
    #expect(diagnostic.code == .limitExceeded)
    #expect(diagnostic.location == SourceLocation(line: 2, column: 8))
  }

  @Test func deepNestingIsRefused() throws {
    let text = String(repeating: "[", count: 1_000) + String(repeating: "]", count: 1_000) + "\n"
    let diagnostic = try only(load(text))
    #expect(diagnostic.code == .limitExceeded)
    #expect(diagnostic.location == SourceLocation(line: 1, column: 65))
  }

  @Test func deepBlockNestingIsRefused() throws {
    var text = ""
    for depth in 0..<1_000 { text += String(repeating: " ", count: depth) + "k\(depth):\n" }
    let diagnostic = try only(load(text))
    #expect(diagnostic.code == .limitExceeded || diagnostic.code == .yamlSyntax)
  }

  @Test func invalidUTF8PointsAtTheByte() throws {
    let diagnostic = try only(
      load(Array("flow: x\ntitle: ab".utf8) + [0xFF, 0xFE] + Array("\n".utf8)))
    #expect(diagnostic.code == .invalidUTF8)
    #expect(diagnostic.location == SourceLocation(line: 2, column: 10))
  }

  @Test func emptyFile() throws {
    for text in ["", "\n\n", "   \n"] {
      let diagnostic = try only(load(text))
      #expect(diagnostic.code == .wrongType)
      #expect(diagnostic.message.contains("empty"))
    }
  }

  @Test func fileThatIsAList() throws {
    let diagnostic = try only(load("- a\n- b\n"))
    #expect(diagnostic.code == .wrongType)
    #expect(diagnostic.location == SourceLocation(line: 1, column: 1))
    #expect(diagnostic.message.contains("a list"))
  }

  @Test func fileThatIsAScalar() throws {
    let diagnostic = try only(load("just text\n"))
    #expect(diagnostic.code == .wrongType)
  }

  @Test func tabIndentationIsNamed() throws {
    let diagnostic = try only(load("flow: x\nstates:\n\tstart:\n\t\tfinal: true\n"))
    #expect(diagnostic.code == .tabIndentation)
    #expect(diagnostic.location == SourceLocation(line: 3, column: 1))
  }

  @Test func secondDocumentIsRefused() throws {
    let diagnostic = try only(load("flow: x\n---\nflow: y\n"))
    #expect(diagnostic.code == .yamlSyntax)
    #expect(diagnostic.location.line == 2)
  }

  @Test func undefinedAlias() throws {
    let diagnostic = try only(load("flow: *nothing\n"))
    #expect(diagnostic.code == .yamlSyntax)
  }

  @Test func oversizedFileIsRefusedBeforeParsing() throws {
    let limits = LoadLimits(maxFileBytes: 1_000)
    let document = FlowDocument.parse(
      String(repeating: "# padding\n", count: 200), catalog: .empty, limits: limits)
    #expect(document.diagnostics.map(\.code) == [.limitExceeded])
  }

  @Test func duplicateKeysAreEachReported() throws {
    let document = load("flow: a\nflow: b\ntitle: t\ntitle: u\n")
    let duplicates = document.diagnostics.filter { $0.code == .duplicateKey }
    #expect(
      duplicates.map(\.location) == [
        SourceLocation(line: 2, column: 1), SourceLocation(line: 4, column: 1),
      ])
  }
}

/// Hostile input found in review: each is refused quickly, with no huge allocation.
@Suite("Hostile input from review")
struct HostileInputTests {
  @Test func veryLongNamesGetNoSuggestionAndNoHugeTable() {
    let long = String(repeating: "a", count: 60_000)
    // YAML keys stop at 1,024 characters; the old suggestion table would still have held
    // 60,001 × 1,001 integers.
    let other = String(repeating: "b", count: 1_000)
    let text = """
      flow: x
      version: 1
      title: t
      context: { actor: user, target: user }
      start: \(long)
      states:
        \(other): { final: true, outcome: completed }

      """
    let limits = LoadLimits(maxScalarBytes: 100_000)
    let document = FlowDocument.parse(text, catalog: AccountSecurityCatalog.catalog, limits: limits)
    let unknownStart = document.diagnostics.first { $0.code == .unknownStartState }
    #expect(unknownStart != nil)
    #expect(unknownStart?.message.contains("did you mean") == false)
  }

  @Test func hugeDurationsAreNotDurations() {
    #expect(Value.parseDuration("9223372036854775807s") == nil)
    #expect(Value.parseDuration("36500d") == 36_500 * 86_400)
    #expect(Value.parseDuration("36501d") == nil)
    let clock = ManualClock()
    clock.advance(by: Int.max)
    #expect(clock.now() > 0, "the clock saturates instead of trapping")
  }
}
