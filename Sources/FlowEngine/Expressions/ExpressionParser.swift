/// A syntax error inside a guard expression, at an offset into its text.
public struct ExpressionSyntaxError: Error, Sendable, Hashable {
  public var message: String
  public var offset: Int
  public var length: Int
}

/// Parses the guard language:
///
/// ```
/// or         := and ("or" and)*
/// and        := not ("and" not)*
/// not        := "not" not | comparison
/// comparison := primary (("==" | "!=" | "<" | "<=" | ">" | ">=") primary | "in" list)?
/// primary    := literal | path | "(" or ")"
/// list       := "[" (literal ("," literal)*)? "]"
/// literal    := "text" | 'text' | 123 | true | false | 10m | 30s | 2h | 1d
/// path       := name ("." name)*
/// ```
public struct ExpressionParser {
  private enum Token: Equatable {
    case name(String)
    case string(String)
    case number(Int)
    case duration(Int)
    case symbol(String)
    case end
  }

  private var tokens: [(token: Token, offset: Int, length: Int)] = []
  private var position = 0
  private var depth = 0

  /// Deepest nesting of parentheses and `not`; keeps the recursive parser's stack bounded.
  public static let maxNesting = 32

  /// Parses `text` completely or throws the first syntax error.
  public static func parse(_ text: String) throws(ExpressionSyntaxError) -> Expression {
    var parser = ExpressionParser()
    parser.tokens = try tokenize(Array(text.unicodeScalars))
    if parser.tokens.count == 1 {
      throw ExpressionSyntaxError(message: "the condition is empty", offset: 0, length: 1)
    }
    let expression = try parser.parseOr()
    let (token, offset, length) = parser.tokens[parser.position]
    if token != .end {
      if case .number(let number) = parser.tokens[parser.position - 1].token, case .name = token {
        throw ExpressionSyntaxError(
          message: "write a duration as one word: \(number)s, \(number)m, \(number)h or \(number)d",
          offset: parser.tokens[parser.position - 1].offset,
          length: offset + length - parser.tokens[parser.position - 1].offset)
      }
      throw ExpressionSyntaxError(
        message:
          "unexpected \(describe(token)) after a complete condition; join conditions with 'and' or 'or'",
        offset: offset, length: length)
    }
    return expression
  }

  private static let keywords: Set<String> = ["and", "or", "not", "in", "true", "false"]

  private static func tokenize(_ scalars: [Unicode.Scalar]) throws(ExpressionSyntaxError) -> [(
    token: Token, offset: Int, length: Int
  )] {
    var result: [(token: Token, offset: Int, length: Int)] = []
    var index = 0
    func isNameStart(_ scalar: Unicode.Scalar) -> Bool {
      (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || scalar == "_"
    }
    func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }
    while index < scalars.count {
      let scalar = scalars[index]
      let start = index
      if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" {
        index += 1
        continue
      }
      if isNameStart(scalar) {
        while index < scalars.count, isNameStart(scalars[index]) || isDigit(scalars[index]) {
          index += 1
        }
        var name = ""
        name.unicodeScalars.append(contentsOf: scalars[start..<index])
        result.append((.name(name), start, index - start))
        continue
      }
      if isDigit(scalar) {
        while index < scalars.count, isDigit(scalars[index]) { index += 1 }
        var digits = ""
        digits.unicodeScalars.append(contentsOf: scalars[start..<index])
        if index < scalars.count, "smhd".unicodeScalars.contains(scalars[index]),
          index + 1 >= scalars.count
            || !(isNameStart(scalars[index + 1]) || isDigit(scalars[index + 1]))
        {
          index += 1
          guard let seconds = Value.parseDuration(digits + String(scalars[index - 1])) else {
            throw ExpressionSyntaxError(
              message: "the duration is too large", offset: start, length: index - start)
          }
          result.append((.duration(seconds), start, index - start))
        } else {
          if index < scalars.count, isNameStart(scalars[index]) {
            throw ExpressionSyntaxError(
              message:
                "a name cannot start with a digit; durations end in s, m, h or d (for example 10m)",
              offset: start, length: index - start + 1)
          }
          guard let number = Int(digits) else {
            throw ExpressionSyntaxError(
              message: "the number is too large", offset: start, length: index - start)
          }
          result.append((.number(number), start, index - start))
        }
        continue
      }
      if scalar == "\"" || scalar == "'" {
        index += 1
        var text = ""
        var closed = false
        while index < scalars.count {
          let current = scalars[index]
          if current == scalar {
            closed = true
            index += 1
            break
          }
          if current == "\\", index + 1 < scalars.count {
            text.unicodeScalars.append(scalars[index + 1])
            index += 2
            continue
          }
          text.unicodeScalars.append(current)
          index += 1
        }
        guard closed else {
          throw ExpressionSyntaxError(
            message: "the text starting here has no closing \(scalar == "\"" ? "\"" : "'")",
            offset: start, length: 1)
        }
        result.append((.string(text), start, index - start))
        continue
      }
      let next: Unicode.Scalar? = index + 1 < scalars.count ? scalars[index + 1] : nil
      switch (scalar, next) {
      case ("=", "="), ("!", "="), ("<", "="), (">", "="):
        result.append((.symbol(String(scalar) + "="), start, 2))
        index += 2
      case ("<", _), (">", _), ("(", _), (")", _), ("[", _), ("]", _), (",", _), (".", _):
        result.append((.symbol(String(scalar)), start, 1))
        index += 1
      case ("=", _):
        throw ExpressionSyntaxError(
          message: "'=' is not a comparison; write '==' to compare", offset: start, length: 1)
      case ("&", "&"):
        throw ExpressionSyntaxError(
          message: "write 'and' instead of '&&'", offset: start, length: 2)
      case ("|", "|"):
        throw ExpressionSyntaxError(message: "write 'or' instead of '||'", offset: start, length: 2)
      case ("!", _):
        throw ExpressionSyntaxError(message: "write 'not' instead of '!'", offset: start, length: 1)
      default:
        throw ExpressionSyntaxError(
          message: "unexpected character '\(scalar.escaped(asASCII: false))'", offset: start,
          length: 1)
      }
    }
    result.append((.end, scalars.count, 1))
    return result
  }

  private static func describe(_ token: Token) -> String {
    switch token {
    case .name(let name): "'\(name)'"
    case .string(let text): "the text \"\(text)\""
    case .number(let number): "the number \(number)"
    case .duration(let seconds): "the duration \(Value.format(duration: seconds))"
    case .symbol(let symbol): "'\(symbol)'"
    case .end: "the end of the condition"
    }
  }

  private var current: (token: Token, offset: Int, length: Int) { tokens[position] }

  private mutating func take(keyword: String) -> Bool {
    if case .name(keyword) = current.token {
      position += 1
      return true
    }
    return false
  }

  private mutating func enter(at offset: Int) throws(ExpressionSyntaxError) {
    depth += 1
    if depth > Self.maxNesting {
      throw ExpressionSyntaxError(
        message:
          "the condition is nested more than \(Self.maxNesting) levels deep; split it into named guards",
        offset: offset, length: 1)
    }
  }

  private mutating func parseOr() throws(ExpressionSyntaxError) -> Expression {
    var lhs = try parseAnd()
    while take(keyword: "or") {
      let rhs = try parseAnd()
      lhs = Expression(
        .or(lhs, rhs), offset: lhs.offset, length: rhs.offset + rhs.length - lhs.offset)
    }
    return lhs
  }

  private mutating func parseAnd() throws(ExpressionSyntaxError) -> Expression {
    var lhs = try parseNot()
    while take(keyword: "and") {
      let rhs = try parseNot()
      lhs = Expression(
        .and(lhs, rhs), offset: lhs.offset, length: rhs.offset + rhs.length - lhs.offset)
    }
    return lhs
  }

  private mutating func parseNot() throws(ExpressionSyntaxError) -> Expression {
    let start = current.offset
    if take(keyword: "not") {
      try enter(at: start)
      defer { depth -= 1 }
      let operand = try parseNot()
      return Expression(
        .not(operand), offset: start, length: operand.offset + operand.length - start)
    }
    return try parseComparison()
  }

  private mutating func parseComparison() throws(ExpressionSyntaxError) -> Expression {
    let lhs = try parsePrimary()
    if case .symbol(let symbol) = current.token, let op = ComparisonOperator(rawValue: symbol) {
      position += 1
      let rhs = try parsePrimary()
      if case .symbol(let next) = current.token, ComparisonOperator(rawValue: next) != nil {
        throw ExpressionSyntaxError(
          message: "comparisons cannot be chained; join them with 'and'", offset: current.offset,
          length: current.length)
      }
      return Expression(
        .comparison(op, lhs, rhs), offset: lhs.offset, length: rhs.offset + rhs.length - lhs.offset)
    }
    if take(keyword: "in") {
      let open = current
      guard open.token == .symbol("[") else {
        throw ExpressionSyntaxError(
          message: "expected a list such as [\"a\", \"b\"] after 'in'", offset: open.offset,
          length: open.length)
      }
      position += 1
      var items: [Expression] = []
      if current.token != .symbol("]") {
        while true {
          let item = try parsePrimary()
          guard case .literal = item.kind else {
            throw ExpressionSyntaxError(
              message: "a list after 'in' holds literal values only", offset: item.offset,
              length: item.length)
          }
          items.append(item)
          if current.token == .symbol(",") {
            position += 1
            continue
          }
          break
        }
      }
      guard current.token == .symbol("]") else {
        throw ExpressionSyntaxError(
          message: "expected ',' or ']' in the list, found \(Self.describe(current.token))",
          offset: current.offset, length: current.length)
      }
      let close = current
      position += 1
      return Expression(
        .membership(lhs, items), offset: lhs.offset,
        length: close.offset + close.length - lhs.offset)
    }
    return lhs
  }

  private mutating func parsePrimary() throws(ExpressionSyntaxError) -> Expression {
    let (token, offset, length) = current
    switch token {
    case .string(let text):
      position += 1
      return Expression(.literal(.string(text)), offset: offset, length: length)
    case .number(let number):
      position += 1
      return Expression(.literal(.int(number)), offset: offset, length: length)
    case .duration(let seconds):
      position += 1
      return Expression(.literal(.duration(seconds)), offset: offset, length: length)
    case .name("true"), .name("false"):
      position += 1
      return Expression(.literal(.bool(token == .name("true"))), offset: offset, length: length)
    case .name(let name) where !Self.keywords.contains(name):
      position += 1
      var parts = [name]
      var end = offset + length
      while current.token == .symbol(".") {
        position += 1
        guard case .name(let part) = current.token, !Self.keywords.contains(part) || part == "in"
        else {
          throw ExpressionSyntaxError(
            message: "expected a field name after '.', found \(Self.describe(current.token))",
            offset: current.offset, length: current.length)
        }
        parts.append(part)
        end = current.offset + current.length
        position += 1
      }
      return Expression(.path(parts), offset: offset, length: end - offset)
    case .symbol("("):
      position += 1
      try enter(at: offset)
      defer { depth -= 1 }
      let inner = try parseOr()
      guard current.token == .symbol(")") else {
        throw ExpressionSyntaxError(
          message: "expected ')' to close the '(', found \(Self.describe(current.token))",
          offset: current.offset, length: current.length)
      }
      let close = current
      position += 1
      return Expression(inner.kind, offset: offset, length: close.offset + 1 - offset)
    default:
      throw ExpressionSyntaxError(
        message: "expected a value, a name or '(', found \(Self.describe(token))", offset: offset,
        length: length)
    }
  }
}
