import FlowEngine
import Foundation
import Testing

@Suite("Guard expressions")
struct ExpressionParserTests {
  @Test(
    "parses and prints back in canonical form",
    arguments: [
      ("actor.role == \"admin\"", "actor.role == \"admin\""),
      ("not isAdmin", "not isAdmin"),
      ("a and b or c", "(a and b) or c"),
      ("a or b or c or d", "a or b or c or d"),
      (#"x == "say \"hi\" \\ bye""#, #"x == "say \"hi\" \\ bye""#),
      ("a and (b and c)", "a and (b and c)"),
      ("a and (b or c)", "a and (b or c)"),
      ("not (a and b)", "not (a and b)"),
      ("verifyCode.failures >= 5", "verifyCode.failures >= 5"),
      ("settings.codeTtl <= 10m", "settings.codeTtl <= 10m"),
      ("actor.role in [\"admin\", 'manager']", "actor.role in [\"admin\", \"manager\"]"),
      ("x != true", "x != true"),
      ("  spaced   ==   1  ", "spaced == 1"),
    ])
  func roundTrip(_ input: String, _ canonical: String) throws {
    let expression = try ExpressionParser.parse(input)
    #expect(expression.description == canonical)
  }

  @Test(
    "reports syntax errors at the offending column",
    arguments: [
      ("actor.role = \"admin\"", 11, "'=' is not a comparison; write '==' to compare"),
      ("a && b", 2, "write 'and' instead of '&&'"),
      ("a || b", 2, "write 'or' instead of '||'"),
      ("!a", 0, "write 'not' instead of '!'"),
      ("(a and b", 8, "expected ')' to close the '(', found the end of the condition"),
      ("a b", 2, "unexpected 'b' after a complete condition; join conditions with 'and' or 'or'"),
      ("a == b == c", 7, "comparisons cannot be chained; join them with 'and'"),
      ("\"open", 0, "the text starting here has no closing \""),
      ("", 0, "the condition is empty"),
      ("a in b", 5, "expected a list such as [\"a\", \"b\"] after 'in'"),
      ("a in [b]", 6, "a list after 'in' holds literal values only"),
      ("a.", 2, "expected a field name after '.', found the end of the condition"),
      (
        "5x", 0, "a name cannot start with a digit; durations end in s, m, h or d (for example 10m)"
      ),
      ("a == #", 5, "unexpected character '#'"),
    ])
  func syntaxError(_ input: String, _ offset: Int, _ message: String) {
    #expect(throws: ExpressionSyntaxError.self) { try ExpressionParser.parse(input) }
    do {
      _ = try ExpressionParser.parse(input)
    } catch {
      #expect(error.offset == offset)
      #expect(error.message == message)
    }
  }

  @Test func durationsAreSeconds() throws {
    let expression = try ExpressionParser.parse("x < 2h")
    guard case .comparison(_, _, let rhs) = expression.kind,
      case .literal(.duration(let seconds)) = rhs.kind
    else {
      Issue.record("not a duration comparison: \(expression)")
      return
    }
    #expect(seconds == 7_200)
  }

  @Test func nestingIsBounded() throws {
    let fine = String(repeating: "(", count: 32) + "a" + String(repeating: ")", count: 32)
    #expect((try? ExpressionParser.parse(fine)) != nil)
    let deep = String(repeating: "(", count: 500) + "a" + String(repeating: ")", count: 500)
    #expect(throws: ExpressionSyntaxError.self) { try ExpressionParser.parse(deep) }
    let nots = String(repeating: "not ", count: 100) + "a"
    #expect(throws: ExpressionSyntaxError.self) { try ExpressionParser.parse(nots) }
  }

  /// Inputs the fuzzer found that once broke the round trip or crashed; kept as regressions.
  @Test(
    "fuzzer findings parse and print back stably",
    arguments: FuzzFindings.files(prefix: "expression-"))
  func fuzzRegression(_ path: String) throws {
    let text = String(
      decoding: try #require(FileManager.default.contents(atPath: path)), as: UTF8.self)
    guard let expression = try? ExpressionParser.parse(text) else { return }
    let printed = expression.description
    let again = try ExpressionParser.parse(printed)
    #expect(again.description == printed)
  }
}

enum FuzzFindings {
  static func files(prefix: String) -> [String] {
    let directory = Fixtures.root.appendingPathComponent("fuzz")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasPrefix(prefix) }.sorted().map {
      directory.appendingPathComponent($0).path
    }
  }
}
