/// The values worth trying for each payload field and each fact, derived from the flow: every
/// constant a condition compares them with (settings included, since they compile to
/// constants), its neighbours for ordered comparisons, every item of an `in` list, the bounds
/// of an action parameter a field is passed to, and the facts a field is compared with. Each
/// value can change the outcome of a guard or an action; values between two of them cannot.
public struct InputDomains: Sendable {
  /// By payload slot: constants and bounds.
  public private(set) var payload: [[Value]]
  /// By payload slot: fact slots the field is compared with (`event.phone == target.phone`).
  public private(set) var payloadFacts: [[Int]]
  /// By fact slot name (`actor.id`): constants the fact is compared with.
  public private(set) var facts: [String: [Value]]

  public init(flow: CompiledFlow) {
    payload = Array(repeating: [], count: flow.payloadFields.count)
    payloadFacts = Array(repeating: [], count: flow.payloadFields.count)
    facts = [:]
    var expressions: [CompiledExpression] = []
    for state in flow.states {
      for transition in state.handlers.joined() + state.always {
        if let condition = transition.condition { expressions.append(condition.expression) }
        for action in transition.actions {
          let signature = flow.catalog.actions[action.name]
          for argument in action.arguments {
            expressions.append(argument.value)
            guard case .read(.payload(let slot)) = argument.value,
              let range = signature?.parameters.first(where: { $0.name == argument.name })?.range
            else { continue }
            let bounds = [
              range.lowerBound - 1, range.lowerBound, range.upperBound, range.upperBound + 1,
            ]
            for bound in bounds {
              add(ofType: flow.payloadFields[slot].type, bound, to: &payload[slot])
            }
          }
        }
      }
    }
    for check in flow.checks {
      switch check.kind {
      case .reachesWhen(_, let condition), .performsWhen(_, let condition),
        .holdsIn(_, let condition), .canReach(_, .some(let condition)):
        expressions.append(condition.expression)
      default: break
      }
    }
    for expression in expressions { collect(expression, flow: flow) }
  }

  private mutating func collect(_ expression: CompiledExpression, flow: CompiledFlow) {
    switch expression {
    case .read, .constant: break
    case .not(let operand), .member(let operand, _):
      if case .member(.read(let operand), let list) = expression {
        for value in list { note(operand, value, ordered: false, flow: flow) }
      }
      collect(operand, flow: flow)
    case .and(let lhs, let rhs), .or(let lhs, let rhs):
      collect(lhs, flow: flow)
      collect(rhs, flow: flow)
    case .compare(let op, let lhs, let rhs):
      let ordered = op != .equal && op != .notEqual
      switch (lhs, rhs) {
      case (.read(let operand), .constant(let value)), (.constant(let value), .read(let operand)):
        note(operand, value, ordered: ordered, flow: flow)
      case (.read(.payload(let field)), .read(.slot(let slot))),
        (.read(.slot(let slot)), .read(.payload(let field))):
        if flow.slots[slot].kind == .fact, !payloadFacts[field].contains(slot) {
          payloadFacts[field].append(slot)
        }
      default:
        collect(lhs, flow: flow)
        collect(rhs, flow: flow)
      }
    }
  }

  private mutating func note(_ operand: Operand, _ value: Value, ordered: Bool, flow: CompiledFlow)
  {
    let neighbours: [Value]
    switch value {
    case .int(let number) where ordered: neighbours = [.int(number - 1), value, .int(number + 1)]
    case .duration(let seconds) where ordered:
      neighbours = [.duration(max(0, seconds - 1)), value, .duration(seconds + 1)]
    default: neighbours = [value]
    }
    switch operand {
    case .payload(let slot):
      for value in neighbours where !payload[slot].contains(value) { payload[slot].append(value) }
    case .slot(let slot) where flow.slots[slot].kind == .fact:
      let name = flow.slots[slot].name
      for value in neighbours where !facts[name, default: []].contains(value) {
        facts[name, default: []].append(value)
      }
    case .slot: break
    }
  }

  private func add(ofType type: ValueType, _ number: Int, to list: inout [Value]) {
    let value: Value
    switch type {
    case .int: value = .int(number)
    case .duration: value = .duration(max(0, number))
    default: return
    }
    if !list.contains(value) { list.append(value) }
  }

  /// A value of a type that is not a domain scalar, for a field no condition constrains.
  public static func sample(of type: ValueType) -> [Value] {
    switch type {
    case .bool: [.bool(true), .bool(false)]
    case .int: [.int(0)]
    case .duration: [.duration(60)]
    case .enumeration(_, let cases): cases.map { .string($0) }
    case .string: [.string("x")]
    case .scalar, .record: []
    }
  }

  /// How an events file spells a value of a type.
  public static func spelling(_ value: Value, as type: ValueType) -> String {
    switch (type, value) {
    case (.duration, .duration(let seconds)): Value.format(duration: seconds)
    case (.int, .int(let number)): String(number)
    case (.bool, .bool(let flag)): String(flag)
    case (.enumeration, .string(let text)): text
    case (_, .string(let text)): "\"\(text.replacingQuotes())\""
    default: "\(value)"
    }
  }
}

extension String {
  fileprivate func replacingQuotes() -> String {
    var escaped = ""
    for character in self {
      if character == "\"" || character == "\\" { escaped.append("\\") }
      escaped.append(character)
    }
    return escaped
  }
}
