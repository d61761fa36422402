/// A parsed guard expression. Offsets count Unicode scalars from the start of the guard text, so
/// a type error can point at the exact column inside the expression.
public struct Expression: Sendable {
  public indirect enum Kind: Sendable {
    case literal(Value)
    /// A dotted name: a context fact (`actor.role`), `event.field`, `settings.name`, an action
    /// result (`verifyCode.ok`), or, with one part, another guard (`isAdmin`).
    case path([String])
    case not(Expression)
    case and(Expression, Expression)
    case or(Expression, Expression)
    case comparison(ComparisonOperator, Expression, Expression)
    /// `value in [a, b]`; the list holds literals only.
    case membership(Expression, [Expression])
  }

  public var kind: Kind
  public var offset: Int
  public var length: Int

  public init(_ kind: Kind, offset: Int, length: Int) {
    self.kind = kind
    self.offset = offset
    self.length = length
  }
}

public enum ComparisonOperator: String, Sendable, CaseIterable {
  case equal = "=="
  case notEqual = "!="
  case less = "<"
  case lessOrEqual = "<="
  case greater = ">"
  case greaterOrEqual = ">="
}

extension Expression: CustomStringConvertible {
  /// The expression written back in canonical form (used in traces and diagrams).
  public var description: String {
    switch kind {
    case .literal(.string(let text)):
      // Escaped as the lexer reads it, so any text prints back to the same literal.
      "\""
        + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(
          of: "\"", with: "\\\"")
        + "\""
    case .literal(let value): value.description
    case .path(let parts): parts.joined(separator: ".")
    case .not(let operand): "not \(operand.parenthesized)"
    // A chain of the same operator reads left to right without parentheses (`a or b or c`), as
    // the parser groups it; printing it nested would exceed the nesting limit on long chains.
    case .and(let lhs, let rhs):
      "\(lhs.isAnd ? lhs.description : lhs.parenthesized) and \(rhs.parenthesized)"
    case .or(let lhs, let rhs):
      "\(lhs.isOr ? lhs.description : lhs.parenthesized) or \(rhs.parenthesized)"
    // Operands of a comparison are simple unless written in parentheses: keep those, since
    // comparisons do not chain and `and`/`or`/`not` bind more loosely.
    case .comparison(let op, let lhs, let rhs): "\(lhs.simple) \(op.rawValue) \(rhs.simple)"
    case .membership(let value, let list):
      "\(value.simple) in [\(list.map(\.description).joined(separator: ", "))]"
    }
  }

  private var isAnd: Bool {
    if case .and = kind { return true }
    return false
  }

  private var isOr: Bool {
    if case .or = kind { return true }
    return false
  }

  /// As an operand of a comparison or `in`: anything but a value or a name in parentheses.
  private var simple: String {
    switch kind {
    case .literal, .path: description
    default: "(\(description))"
    }
  }

  private var parenthesized: String {
    switch kind {
    case .and, .or, .comparison, .membership: "(\(description))"
    case .literal, .path, .not: description
    }
  }
}
