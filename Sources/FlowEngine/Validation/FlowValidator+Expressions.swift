/// Where an expression is checked: what `event.…` means there.
enum ExpressionScope {
  /// A named guard: `event.x` is typed from the events that declare `x`, and checked at each use.
  case namedGuard
  /// A transition's `when` or an action argument.
  case transition(event: EventBinding)
}

/// The event a transition handles, as far as checking `event.x` is concerned.
enum EventBinding {
  /// `always` transitions: there is no event.
  case none
  /// `after` entries and the deadline: time passed, there is no event.
  case timer
  /// A check's condition: evaluated on the session, with no event.
  case check
  /// An `on` handler for an undeclared event (reported already): its payload is unknown.
  case unknown
  case named(String)
}

/// What an expression refers to, for the checks that happen at its use site.
struct References {
  var guards: [Located<String>] = []
  var eventFields: [String: SourceLocation] = [:]
}

extension ValidationRun {
  static func describe(_ type: ValueType) -> String {
    switch type {
    case .string: "text"
    case .int: "a number"
    case .bool: "a true/false condition"
    case .duration: "a duration"
    case .enumeration(let name, _): article(name)
    case .scalar(let name): article(name)
    case .record(let record): article(record.name) + " record"
    }
  }

  /// "a role", "an email".
  static func article(_ noun: String) -> String {
    let vowels: Set<Character> = ["a", "e", "i", "o", "u"]
    return (noun.first.map { vowels.contains($0) } ?? false ? "an " : "a ") + noun
  }

  func payloadIsKnown(_ event: String) -> Bool {
    !unknownPayloads.contains(event)
  }

  /// Parses `source`, reporting syntax errors at their column; nil when it does not parse.
  mutating func parse(_ source: GuardSource) -> Expression? {
    if source.text.unicodeScalars.count > limits.maxExpressionLength {
      report(
        .limitExceeded,
        "the condition is longer than the limit of \(limits.maxExpressionLength) characters",
        at: source.location)
      return nil
    }
    let result =
      parsedExpressions[source.text]
      ?? Result { () throws(ExpressionSyntaxError) in try ExpressionParser.parse(source.text) }
    parsedExpressions[source.text] = result
    switch result {
    case .success(let expression):
      return expression
    case .failure(let error):
      report(
        .expressionSyntax, error.message, at: source.location(ofOffset: error.offset),
        length: error.length)
      return nil
    }
  }

  mutating func checkGuards() {
    for index in definition.guards.indices {
      let guardDefinition = definition.guards[index]
      let name = guardDefinition.name.value
      guard let expression = parse(guardDefinition.expression) else {
        guardTypes[name] = .some(nil)
        continue
      }
      definition.guards[index].expression.parsed = expression
      var references = References()
      let type = typeOf(
        expression, in: guardDefinition.expression, scope: .namedGuard, references: &references)
      if let type, type != .bool {
        report(
          .typeMismatch, "guard '\(name)' is \(Self.describe(type)), not a true/false condition",
          at: guardDefinition.expression.location(ofOffset: expression.offset),
          length: expression.length)
      }
      guardTypes[name] = .some(type)
      guardEventFields[name] = references.eventFields
      guardDependencies[name] = references.guards
    }
    checkGuardCycles()
    checkGuardSizes()
  }

  /// Guards are inlined where they are used; a guard that uses another twice, which uses another
  /// twice, … doubles at each level. Refuse any guard whose inlined size passes the limit.
  private mutating func checkGuardSizes() {
    let limit = 10 * limits.maxExpressionLength
    var sizes: [String: Int] = [:]
    var visiting: Set<String> = []
    func size(of name: String) -> Int {
      if let known = sizes[name] { return known }
      guard visiting.insert(name).inserted, let index = guardIndex[name],
        let expression = definition.guards[index].expression.parsed
      else { return 1 }
      var total = Self.nodeCount(expression)
      for dependency in guardDependencies[name] ?? [] {
        total = min(limit + 1, total + size(of: dependency.value))
      }
      visiting.remove(name)
      sizes[name] = total
      return total
    }
    // Report the guards that cross the limit, not every guard built on them.
    for guardDefinition in definition.guards
    where size(of: guardDefinition.name.value) > limit
      && (guardDependencies[guardDefinition.name.value] ?? []).allSatisfy({
        size(of: $0.value) <= limit
      })
    {
      report(
        .limitExceeded,
        "guard '\(guardDefinition.name.value)' grows past \(limit) terms once the guards it uses are written out; use each guard once",
        at: guardDefinition.name.location, length: guardDefinition.name.value.count)
    }
  }

  static func nodeCount(_ expression: Expression) -> Int {
    switch expression.kind {
    case .literal, .path: 1
    case .not(let operand): 1 + nodeCount(operand)
    case .and(let lhs, let rhs), .or(let lhs, let rhs), .comparison(_, let lhs, let rhs):
      1 + nodeCount(lhs) + nodeCount(rhs)
    case .membership(let value, let items): 1 + nodeCount(value) + items.count
    }
  }

  private mutating func checkGuardCycles() {
    var state: [String: Int] = [:]  // 1 visiting, 2 done
    for root in definition.guards {
      guard state[root.name.value] == nil else { continue }
      var stack: [(name: String, next: Int)] = [(root.name.value, 0)]
      state[root.name.value] = 1
      while let top = stack.last {
        let dependencies = guardDependencies[top.name] ?? []
        if top.next >= dependencies.count {
          state[top.name] = 2
          stack.removeLast()
          continue
        }
        stack[stack.count - 1].next += 1
        let dependency = dependencies[top.next]
        switch state[dependency.value] {
        case nil:
          state[dependency.value] = 1
          stack.append((dependency.value, 0))
        case 1:
          let names = stack.map(\.name)
          let cycle = names[(names.firstIndex(of: dependency.value) ?? 0)...] + [dependency.value]
          report(
            .guardCycle,
            "guard '\(dependency.value)' depends on itself: \(cycle.joined(separator: " → "))",
            at: dependency.location, length: dependency.value.count)
        default:
          break
        }
      }
    }
  }

  /// Every `event.x` a guard reads, directly or through the guards it uses.
  mutating func transitiveEventFields(of name: String) -> [String: SourceLocation] {
    var result: [String: SourceLocation] = [:]
    var seen: Set<String> = [name]
    var pending = [name]
    while let current = pending.popLast() {
      for (field, location) in guardEventFields[current] ?? [:] where result[field] == nil {
        result[field] = location
      }
      for dependency in guardDependencies[current] ?? []
      where seen.insert(dependency.value).inserted {
        pending.append(dependency.value)
      }
    }
    return result
  }

  /// Checks a condition used on a transition: parses, types, and checks event fields it reads.
  mutating func checkCondition(_ source: GuardSource, event: EventBinding) -> Expression? {
    guard let expression = parse(source) else { return nil }
    var references = References()
    let type = typeOf(
      expression, in: source, scope: .transition(event: event), references: &references)
    if let type, type != .bool {
      report(
        .typeMismatch,
        "'when' needs a true/false condition; '\(source.text)' is \(Self.describe(type))",
        at: source.location(ofOffset: expression.offset), length: expression.length)
    }
    checkGuardUses(references.guards, event: event)
    return expression
  }

  mutating func checkGuardUses(_ guards: [Located<String>], event: EventBinding) {
    for use in guards {
      usedGuards.insert(use.value)
      for (field, _) in transitiveEventFields(of: use.value).sorted(by: { $0.key < $1.key }) {
        switch event {
        case .unknown:
          continue
        case .check:
          report(
            .eventOutsideTransition,
            "guard '\(use.value)' reads event.\(field), but a check is evaluated on the session, with no event",
            at: use.location, length: use.value.count)
        case .named(let event):
          if payloadIsKnown(event), declaredFields[event]?.contains(field) != true {
            report(
              .unknownPayloadField,
              "guard '\(use.value)' reads event.\(field), but event '\(event)' has no payload field '\(field)'",
              at: use.location, length: use.value.count)
          }
        case .none:
          report(
            .eventOutsideTransition,
            "guard '\(use.value)' reads event.\(field), but 'always' transitions run without an event",
            at: use.location, length: use.value.count)
        case .timer:
          report(
            .eventOutsideTransition,
            "guard '\(use.value)' reads event.\(field), but timers fire without an event",
            at: use.location, length: use.value.count)
        }
      }
    }
  }

  /// The type of `expression`, reporting every problem in it; nil when it cannot be typed.
  mutating func typeOf(
    _ expression: Expression, in source: GuardSource, scope: ExpressionScope,
    references: inout References
  ) -> ValueType? {
    let location = source.location(ofOffset: expression.offset)
    switch expression.kind {
    case .literal(let value):
      return Self.type(of: value)
    case .path(let parts):
      return resolvePath(
        parts, expression: expression, source: source, scope: scope, references: &references)
    case .not(let operand):
      requireCondition(operand, in: source, scope: scope, references: &references)
      return .bool
    case .and(let lhs, let rhs), .or(let lhs, let rhs):
      requireCondition(lhs, in: source, scope: scope, references: &references)
      requireCondition(rhs, in: source, scope: scope, references: &references)
      return .bool
    case .comparison(let op, let lhs, let rhs):
      let lhsType = typeOf(lhs, in: source, scope: scope, references: &references)
      let rhsType = typeOf(rhs, in: source, scope: scope, references: &references)
      guard let lhsType, let rhsType else { return .bool }
      if op == .equal || op == .notEqual {
        checkComparable(lhs, lhsType, rhs, rhsType, in: source)
      } else if !(lhsType == rhsType && lhsType.isOrdered) {
        report(
          .typeMismatch,
          "'\(op.rawValue)' compares two numbers or two durations; here it has \(Self.describe(lhsType)) and \(Self.describe(rhsType))",
          at: location, length: expression.length)
      }
      return .bool
    case .membership(let value, let items):
      guard let valueType = typeOf(value, in: source, scope: scope, references: &references) else {
        return .bool
      }
      for item in items {
        if let itemType = typeOf(item, in: source, scope: scope, references: &references) {
          checkComparable(value, valueType, item, itemType, in: source)
        }
      }
      return .bool
    }
  }

  static func type(of value: Value) -> ValueType {
    switch value {
    case .string: .string
    case .int: .int
    case .bool: .bool
    case .duration: .duration
    }
  }

  private mutating func requireCondition(
    _ operand: Expression, in source: GuardSource, scope: ExpressionScope,
    references: inout References
  ) {
    guard let type = typeOf(operand, in: source, scope: scope, references: &references),
      type != .bool
    else { return }
    var hint = ""
    if case .enumeration(_, let cases) = type, let first = cases.first {
      hint = "; compare it, for example \(operand) == \"\(first)\""
    }
    report(
      .typeMismatch, "'\(operand)' is \(Self.describe(type)), not a true/false condition\(hint)",
      at: source.location(ofOffset: operand.offset), length: operand.length)
  }

  /// `==`, `!=` and `in` compare like with like; text literals stand for enumeration cases and
  /// for values of catalog scalar types.
  private mutating func checkComparable(
    _ lhs: Expression, _ lhsType: ValueType, _ rhs: Expression, _ rhsType: ValueType,
    in source: GuardSource
  ) {
    for (side, type) in [(lhs, lhsType), (rhs, rhsType)] {
      if case .record(let record) = type {
        report(
          .typeMismatch,
          "'\(side)' is a whole \(record.name) record; compare one of its fields (\(record.fields.map(\.name).joined(separator: ", ")))",
          at: source.location(ofOffset: side.offset), length: side.length)
        return
      }
    }
    if lhsType == rhsType { return }
    for (typed, type, other, otherType) in [
      (lhs, lhsType, rhs, rhsType), (rhs, rhsType, lhs, lhsType),
    ] {
      guard otherType == .string, case .literal(.string(let text)) = other.kind else { continue }
      switch type {
      case .enumeration(let name, let cases):
        if !cases.contains(text) {
          report(
            .typeMismatch,
            "\"\(text)\" is not \(Self.article(name))\(Suggestion.hint(for: text, in: cases)); '\(typed)' is one of: \(cases.joined(separator: ", "))",
            at: source.location(ofOffset: other.offset), length: other.length)
        }
        return
      case .scalar:
        return
      default:
        break
      }
    }
    report(
      .typeMismatch,
      "cannot compare '\(lhs)' (\(Self.describe(lhsType))) with '\(rhs)' (\(Self.describe(rhsType)))",
      at: source.location(ofOffset: lhs.offset), length: rhs.offset + rhs.length - lhs.offset)
  }

  /// Resolves a dotted name to its type: a guard, a context fact, `event.x`, `settings.x`, or an
  /// action's result.
  private mutating func resolvePath(
    _ parts: [String], expression: Expression, source: GuardSource, scope: ExpressionScope,
    references: inout References
  ) -> ValueType? {
    let root = parts[0]
    var offsets: [Int] = []
    var offset = expression.offset
    for part in parts {
      offsets.append(offset)
      offset += part.unicodeScalars.count + 1
    }
    func at(_ index: Int) -> SourceLocation { source.location(ofOffset: offsets[index]) }
    let fullLength = expression.length

    if parts.count == 1, guardIndex[root] != nil {
      references.guards.append(Located(root, at: at(0)))
      return .bool
    }
    switch root {
    case "event":
      guard parts.count >= 2 else {
        report(
          .unknownPayloadField, "name a payload field: event.<field>", at: at(0), length: fullLength
        )
        return nil
      }
      let field = parts[1]
      let fieldType: ValueType
      switch scope {
      case .namedGuard:
        guard let type = payloadFieldTypes[field] else {
          if !eventFields.values.contains(where: { $0[field] != nil }) {
            let advice = hint(for: field, in: .payloadFields)
            report(
              .unknownPayloadField,
              "no event declares a payload field '\(field)'\(advice)",
              at: at(1), length: field.count)
          }
          return nil
        }
        references.eventFields[field] = at(1)
        fieldType = type
      case .transition(let binding):
        let event: String
        switch binding {
        case .none:
          report(
            .eventOutsideTransition,
            "'always' transitions run without an event, so event.\(field) is not available here",
            at: at(0), length: fullLength)
          return nil
        case .check:
          report(
            .eventOutsideTransition,
            "a check is evaluated on the session, with no event, so event.\(field) is not available here",
            at: at(0), length: fullLength)
          return nil
        case .timer:
          report(
            .eventOutsideTransition,
            "timers fire when time has passed, with no event, so event.\(field) is not available here",
            at: at(0), length: fullLength)
          return nil
        case .unknown:
          return nil
        case .named(let name):
          event = name
        }
        guard payloadIsKnown(event), let fields = eventFields[event] else { return nil }
        // A declared field whose type is unknown was reported where it was declared.
        if fields[field] == nil, declaredFields[event]?.contains(field) == true { return nil }
        guard let type = fields[field] else {
          let listing =
            fields.isEmpty
            ? "it carries no payload"
            : "its fields: \(fields.keys.sorted().joined(separator: ", "))"
          report(
            .unknownPayloadField,
            "event '\(event)' has no payload field '\(field)'\(Suggestion.hint(for: field, in: fields.keys)); \(listing)",
            at: at(1), length: field.count)
          return nil
        }
        fieldType = type
      }
      return walk(fieldType, parts, from: 2, at: at)
    case "settings":
      guard parts.count == 2 else {
        report(.unknownFact, "name one setting: settings.<name>", at: at(0), length: fullLength)
        return nil
      }
      guard let value = settingValues[parts[1]] else {
        report(
          .unknownFact,
          "unknown setting '\(parts[1])'\(Suggestion.hint(for: parts[1], in: settingValues.keys))",
          at: at(1), length: parts[1].count)
        return nil
      }
      return Self.type(of: value)
    default:
      break
    }
    if let type = contextTypes[root] {
      return walk(type, parts, from: 1, at: at)
    }
    if definition.context.contains(where: { $0.name.value == root }) { return nil }
    if let action = catalog.actions[root] {
      guard calledActions.contains(root) else {
        report(
          .unknownFact, "'\(root)' is an action this flow never calls, so it has no result to read",
          at: at(0), length: root.count)
        return nil
      }
      guard !action.result.isEmpty else {
        report(
          .unknownFact, "'\(root)' returns no result to read", at: at(0), length: fullLength)
        return nil
      }
      guard parts.count >= 2 else {
        report(
          .unknownFact,
          "name a field of the result of '\(root)': \(action.result.map(\.name).joined(separator: ", "))",
          at: at(0), length: fullLength)
        return nil
      }
      return walk(.record(action.resultType), parts, from: 1, at: at)
    }
    var advice = hint(for: root, in: .roots)
    if advice.isEmpty, parts.count == 1, isEnumerationCase(root) {
      advice = "; to compare with the text \(root), quote it: \"\(root)\""
    } else if advice.isEmpty, parts.count > 1 {
      advice =
        "; facts are read from 'context' fields, event.<field>, settings.<name> or an action's result"
    }
    let what = parts.count == 1 ? "guard or fact" : "fact"
    report(
      parts.count == 1 ? .unknownGuard : .unknownFact,
      "unknown \(what) '\(root)'\(advice)",
      at: at(0), length: root.count)
    return nil
  }

  private func isEnumerationCase(_ word: String) -> Bool {
    catalog.types.values.contains { type in
      if case .enumeration(_, let cases) = type { return cases.contains(word) }
      return false
    }
  }

  private mutating func walk(
    _ start: ValueType, _ parts: [String], from first: Int, at: (Int) -> SourceLocation
  ) -> ValueType? {
    var type = start
    for index in first..<parts.count {
      let part = parts[index]
      guard case .record(let record) = type else {
        report(
          .unknownFact,
          "'\(parts[..<index].joined(separator: "."))' is \(Self.describe(type)) and has no field '\(part)'",
          at: at(index), length: part.count)
        return nil
      }
      guard let field = record.field(named: part) else {
        report(
          .unknownFact,
          "\(record.name) has no field '\(part)'\(Suggestion.hint(for: part, in: record.fields.map(\.name))); its fields: \(record.fields.map(\.name).joined(separator: ", "))",
          at: at(index), length: part.count)
        return nil
      }
      type = field.type
    }
    return type
  }
}
