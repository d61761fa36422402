extension ValidationRun {
  mutating func checkStates() {
    let start = definition.start
    if stateIndex[start.value] == nil {
      report(
        .unknownStartState,
        "start state '\(start.value)' is not defined\(hint(for: start.value, in: .states))",
        at: start.location, length: start.value.count)
    }
    for stateNumber in definition.states.indices {
      let state = definition.states[stateNumber]
      let name = state.name.value
      if state.isFinal {
        if let timer = state.after.first {
          report(
            .timerInFinalState,
            "final state '\(name)' ends the flow, so its timers would never fire; remove 'after' or remove final: true",
            at: timer.delay.location, length: timer.delay.value.count)
        }
        if !state.on.isEmpty || !state.always.isEmpty {
          report(
            .finalWithTransitions,
            "final state '\(name)' ends the flow, so it cannot have 'on' or 'always'; remove them or remove final: true",
            at: state.finalLocation ?? state.name.location, length: 5)
        }
        if state.outcome == nil {
          report(
            .missingOutcome,
            "final state '\(name)' needs an outcome (for example outcome: completed) so callers know how the flow ended",
            at: state.name.location, length: name.count)
        }
      } else {
        if let outcome = state.outcome {
          report(
            .invalidValue,
            "'outcome' belongs on final states; add final: true to '\(name)' or remove the outcome",
            at: outcome.location, length: outcome.value.count)
        }
        if state.on.isEmpty && state.always.isEmpty && state.after.isEmpty && state.outcome == nil {
          report(
            .deadEnd,
            "state '\(name)' has no way out: give it 'on' events or 'always' transitions, or make it final: true with an outcome",
            at: state.name.location, length: name.count)
        } else if state.on.isEmpty && state.after.isEmpty && !state.always.isEmpty
          && !state.always.contains(where: { Self.alwaysMatches($0) })
        {
          report(
            .mayGetStuck,
            "state '\(name)' may get stuck: when none of its 'always' conditions holds, no event can leave it; add a last transition without 'when'",
            at: state.name.location, length: name.count)
        }
      }
      for handlerNumber in state.on.indices {
        let handler = state.on[handlerNumber]
        let event = handler.event
        if eventFields[event.value] == nil {
          report(
            .unknownEvent,
            "unknown event '\(event.value)'\(hint(for: event.value, in: .events)); declare it under 'events'",
            at: event.location, length: event.value.count)
        }
        usedEvents.insert(event.value)
        let binding: EventBinding = eventFields[event.value] != nil ? .named(event.value) : .unknown
        definition.states[stateNumber].on[handlerNumber].transitions = checkTransitions(
          handler.transitions, event: binding)
      }
      definition.states[stateNumber].always = checkTransitions(state.always, event: .none)
      definition.states[stateNumber].after = checkTimers(state.after, areDeadline: false)
    }
    if let deadline = definition.deadline {
      definition.deadline = checkTimers([deadline], areDeadline: true).first
    }
  }

  /// `after` entries and the deadline: a positive duration, then a transition like `always`'s.
  /// A timer that can never fire (longer than the deadline, or a `when` that never holds) is
  /// a warning.
  private mutating func checkTimers(_ timers: [TimerDefinition], areDeadline: Bool)
    -> [TimerDefinition]
  {
    var result = timers
    let deadline = definition.deadline.flatMap { definition.seconds(of: $0.delay.value) }
    for index in result.indices {
      let delay = result[index].delay
      if let seconds = definition.seconds(of: delay.value) {
        if let deadline, !areDeadline, seconds >= deadline {
          report(
            .timerAfterDeadline,
            "this timer (\(Value.format(duration: seconds))) is not shorter than the deadline (\(Value.format(duration: deadline))), which ends the session first; it never fires",
            at: delay.location, length: delay.value.count)
        }
      } else {
        report(
          .timerDelay, delayProblem(delay.value), at: delay.location, length: delay.value.count)
      }
      result[index].transition = checkTransitions([result[index].transition], event: .timer)[0]
      if let source = result[index].transition.guardSource, let parsed = source.parsed,
        !canHold(parsed)
      {
        report(
          .timerNeverFires,
          "this timer never fires: its 'when' (\(source.text)) can never hold",
          at: source.location, length: max(1, source.text.count))
      }
    }
    return result
  }

  private func delayProblem(_ delay: String) -> String {
    if delay.hasPrefix("settings.") {
      let name = String(delay.dropFirst("settings.".count))
      guard let value = settingValues[name] else {
        let known = definition.settings.map(\.name.value)
        return
          "unknown setting '\(name)'\(Suggestion.hint(for: name, in: known)); a timer's 'in' is a duration (15m) or a setting that holds one"
      }
      return
        "setting '\(name)' is \(value), not a duration; a timer's 'in' is a positive duration such as 15m"
    }
    if let seconds = Value.parseDuration(delay), seconds <= 0 {
      return "a timer's 'in' must be longer than 0s"
    }
    return
      "'\(delay)' is not a duration; a timer's 'in' is a duration such as 90s, 15m, 1h or 2d, or a setting (settings.idleTimeout)"
  }

  /// False when no assignment of true/false to the conditions it is built from makes the
  /// expression true (`isAdmin and not isAdmin`, `false`): a sound "can never hold".
  private func canHold(_ expression: Expression) -> Bool {
    var atoms: [String] = []
    let named = Dictionary(
      definition.guards.compactMap { guardDefinition in
        guardDefinition.expression.parsed.map { (guardDefinition.name.value, $0) }
      }, uniquingKeysWith: { first, _ in first })
    func collect(_ expression: Expression, depth: Int) {
      guard depth < 32, atoms.count <= 16 else { return }
      switch expression.kind {
      case .literal: break
      case .not(let operand): collect(operand, depth: depth + 1)
      case .and(let lhs, let rhs), .or(let lhs, let rhs):
        collect(lhs, depth: depth + 1)
        collect(rhs, depth: depth + 1)
      case .path(let parts) where parts.count == 1 && named[parts[0]] != nil:
        if let guardExpression = named[parts[0]] { collect(guardExpression, depth: depth + 1) }
      default:
        let key = "\(expression)"
        if !atoms.contains(key) { atoms.append(key) }
      }
    }
    collect(expression, depth: 0)
    guard atoms.count <= 16 else { return true }
    func value(_ expression: Expression, _ assignment: Int, depth: Int) -> Bool {
      guard depth < 32 else { return true }
      switch expression.kind {
      case .literal(.bool(let flag)): return flag
      case .literal: return true
      case .not(let operand): return !value(operand, assignment, depth: depth + 1)
      case .and(let lhs, let rhs):
        return value(lhs, assignment, depth: depth + 1) && value(rhs, assignment, depth: depth + 1)
      case .or(let lhs, let rhs):
        return value(lhs, assignment, depth: depth + 1) || value(rhs, assignment, depth: depth + 1)
      case .path(let parts) where parts.count == 1 && named[parts[0]] != nil:
        guard let guardExpression = named[parts[0]] else { return true }
        return value(guardExpression, assignment, depth: depth + 1)
      default:
        guard let bit = atoms.firstIndex(of: "\(expression)") else { return true }
        return assignment & (1 << bit) != 0
      }
    }
    return (0..<(1 << atoms.count)).contains { value(expression, $0, depth: 0) }
  }

  private mutating func checkTransitions(
    _ transitions: [TransitionDefinition], event: EventBinding
  ) -> [TransitionDefinition] {
    var result = transitions
    var catchAll: TransitionDefinition?
    for index in result.indices {
      let transition = result[index]
      if let catchAll {
        let reason = catchAll.guardSource == nil ? "has no 'when'" : "has 'when: true'"
        report(
          .shadowedTransition,
          "this transition is never taken: the one at line \(catchAll.location.line) \(reason), so it always matches first",
          at: transition.location)
      }
      let target = transition.target
      if stateIndex[target.value] == nil {
        report(
          .unknownState,
          "unknown state '\(target.value)'\(hint(for: target.value, in: .states))",
          at: target.location, length: target.value.count)
      }
      if let source = transition.guardSource {
        result[index].guardSource?.parsed = checkCondition(source, event: event)
      }
      if catchAll == nil, Self.alwaysMatches(result[index]) {
        catchAll = transition
      }
      for actionNumber in transition.actions.indices {
        result[index].actions[actionNumber] = checkAction(
          transition.actions[actionNumber], event: event)
      }
    }
    return result
  }

  /// A transition without `when`, or with `when: true`, is taken whenever it is tried.
  static func alwaysMatches(_ transition: TransitionDefinition) -> Bool {
    guard let source = transition.guardSource else { return true }
    if let parsed = source.parsed ?? (try? ExpressionParser.parse(source.text)),
      case .literal(.bool(true)) = parsed.kind
    {
      return true
    }
    return false
  }

  private mutating func checkAction(_ call: ActionCall, event: EventBinding) -> ActionCall {
    var checked = call
    guard let signature = catalog.actions[call.name.value] else {
      report(
        .unknownAction,
        "unknown action '\(call.name.value)'\(Suggestion.hint(for: call.name.value, in: catalog.actions.keys)); available: \(catalog.actions.keys.sorted().joined(separator: ", "))",
        at: call.name.location, length: call.name.value.count)
      return checked
    }
    let parameterNames = signature.parameters.map(\.name)
    for index in call.arguments.indices {
      let argument = call.arguments[index]
      guard let parameter = signature.parameters.first(where: { $0.name == argument.name.value })
      else {
        let takes =
          parameterNames.isEmpty
          ? "it takes no arguments" : "it takes: \(parameterNames.joined(separator: ", "))"
        report(
          .actionArgument,
          "'\(call.name.value)' has no argument '\(argument.name.value)'\(Suggestion.hint(for: argument.name.value, in: parameterNames)); \(takes)",
          at: argument.name.location, length: argument.name.value.count)
        continue
      }
      checked.arguments[index].source.parsed = checkArgument(
        argument, parameter, action: call.name.value, event: event)
    }
    for parameter in signature.parameters where parameter.isRequired {
      if !call.arguments.contains(where: { $0.name.value == parameter.name }) {
        report(
          .actionArgument,
          "'\(call.name.value)' needs the argument '\(parameter.name)' (\(describeParameter(parameter.type)))",
          at: call.name.location, length: call.name.value.count)
      }
    }
    if let rule = signature.rule {
      var written: [String: ActionRule.Argument] = [:]
      for argument in call.arguments {
        let text = argument.source.text
        let isPath =
          argument.isPlain && text.contains(".")
          && text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy {
            FlowLoader.isName(String($0))
          }
        written[argument.name.value] = ActionRule.Argument(
          text: text, path: isPath ? text.split(separator: ".").map(String.init) : nil)
      }
      for violation in rule.check(written) {
        let argument = violation.argument.flatMap { name in
          call.arguments.first { $0.name.value == name }
        }
        report(
          .actionRule, violation.message,
          at: argument?.source.location ?? call.name.location,
          length: max(1, (argument?.source.text ?? call.name.value).unicodeScalars.count))
      }
    }
    return checked
  }

  private mutating func checkArgument(
    _ argument: ActionArgument, _ parameter: ActionSignature.Parameter, action: String,
    event: EventBinding
  ) -> Expression? {
    let source = argument.source
    let width = source.text.unicodeScalars.count
    let literal = Expression(.literal(.string(source.text)), offset: 0, length: width)
    if case .enumeration(let name, let cases) = parameter.type {
      if cases.contains(source.text) { return literal }
      if !argument.isPlain || !source.text.contains(".") {
        report(
          .actionArgument,
          "'\(source.text)' is not \(Self.article(name))\(Suggestion.hint(for: source.text, in: cases)); argument '\(parameter.name)' of '\(action)' is one of: \(cases.joined(separator: ", "))",
          at: source.location, length: max(1, width))
        return nil
      }
    }
    if !argument.isPlain {
      switch parameter.type {
      case .string, .scalar: return literal
      default:
        report(
          .actionArgument,
          "argument '\(parameter.name)' of '\(action)' takes \(Self.describe(parameter.type)), not quoted text",
          at: source.location, length: max(1, width) + 2)
        return nil
      }
    }
    guard let expression = parse(source) else { return nil }
    var references = References()
    let type = typeOf(
      expression, in: source, scope: .transition(event: event), references: &references)
    checkGuardUses(references.guards, event: event)
    guard let type else { return expression }
    let accepted: Bool =
      switch (parameter.type, type, expression.kind) {
      case (let wanted, let actual, _) where catalog.accepts(wanted, actual): true
      case (.scalar, .string, .literal): true
      default: false
      }
    if !accepted {
      let options = candidates(of: parameter.type, event: event).map {
        "`\(parameter.name): \($0)`"
      }
      let instead =
        options.isEmpty
        ? "" : "; use " + Self.list(options, conjunction: "or") + " instead"
      report(
        .actionArgument,
        "argument '\(parameter.name)' of '\(action)' takes \(describeParameter(parameter.type)); '\(source.text)' is \(Self.describe(type))\(instead)",
        at: source.location, length: max(1, width))
    } else if let range = parameter.range, let value = constantValue(expression),
      !range.contains(value)
    {
      let show = { (number: Int) in
        parameter.type == .duration ? Value.format(duration: number) : String(number)
      }
      report(
        .actionArgument,
        "argument '\(parameter.name)' of '\(action)' must be from \(show(range.lowerBound)) to \(show(range.upperBound)); '\(source.text)' is \(show(value))",
        at: source.location, length: max(1, width))
    }
    return expression
  }

  /// A parameter's type in words; a union of scalars says what it takes (`a destination: a
  /// phone or an email`).
  func describeParameter(_ type: ValueType) -> String {
    guard case .scalar(let name) = type, let members = catalog.scalarUnions[name] else {
      return Self.describe(type)
    }
    return
      "\(Self.article(name)): \(Self.list(members.sorted().map(Self.article), conjunction: "or"))"
  }

  /// "a, b or c".
  static func list(_ items: [String], conjunction: String) -> String {
    guard items.count > 1, let last = items.last else { return items.first ?? "" }
    return items.dropLast().joined(separator: ", ") + " \(conjunction) " + last
  }

  /// What could be written where a value of `type` is wanted: the context's facts of that type
  /// (two levels deep), the event's payload fields, and results of the actions the flow calls;
  /// at most four, facts first.
  func candidates(of type: ValueType, event: EventBinding) -> [String] {
    var found: [String] = []
    func walk(_ record: RecordType, _ prefix: String, depth: Int) {
      for field in record.fields {
        if catalog.accepts(type, field.type) { found.append("\(prefix).\(field.name)") }
        if case .record(let inner) = field.type, depth < 2 {
          walk(inner, "\(prefix).\(field.name)", depth: depth + 1)
        }
      }
    }
    for field in definition.context {
      if case .record(let record)? = contextTypes[field.name.value] {
        walk(record, field.name.value, depth: 1)
      }
    }
    if case .named(let name) = event {
      for (field, fieldType) in (eventFields[name] ?? [:]).sorted(by: { $0.key < $1.key })
      where catalog.accepts(type, fieldType) {
        found.append("event.\(field)")
      }
    }
    for action in calledActions.sorted() {
      for field in catalog.actions[action]?.result ?? [] where catalog.accepts(type, field.type) {
        found.append("\(action).\(field.name)")
      }
    }
    return Array(found.prefix(4))
  }

  /// The number (or seconds) an argument stands for when it is a literal or a setting.
  private func constantValue(_ expression: Expression) -> Int? {
    let value: Value?
    switch expression.kind {
    case .literal(let literal): value = literal
    case .path(let parts) where parts.count == 2 && parts[0] == "settings":
      value = settingValues[parts[1]]
    default: value = nil
    }
    switch value {
    case .int(let number), .duration(let number): return number
    default: return nil
    }
  }

  /// `checks:` name real states and actions, and their conditions are typed like `always`
  /// conditions (no event payload).
  mutating func checkChecks() {
    for index in definition.checks.indices {
      switch definition.checks[index].kind {
      case .reachesVia(let state, let via):
        requireState(state)
        requireState(via)
      case .reachesWhen(let state, let condition):
        requireState(state)
        let parsed = checkCondition(condition, event: .check)
        var checked = condition
        checked.parsed = parsed
        definition.checks[index].kind = .reachesWhen(state: state, condition: checked)
      case .performsWhen(let action, let condition):
        if catalog.actions[action.value] == nil {
          report(
            .unknownAction,
            "unknown action '\(action.value)'\(Suggestion.hint(for: action.value, in: catalog.actions.keys))",
            at: action.location, length: action.value.count)
        } else if !calledActions.contains(action.value) {
          report(
            .unknownAction,
            "the flow never performs '\(action.value)', so this check proves nothing",
            at: action.location, length: action.value.count)
        }
        let parsed = checkCondition(condition, event: .check)
        var checked = condition
        checked.parsed = parsed
        definition.checks[index].kind = .performsWhen(action: action, condition: checked)
      case .holdsIn(let state, let condition):
        requireState(state)
        var checked = condition
        checked.parsed = checkCondition(condition, event: .check)
        definition.checks[index].kind = .holdsIn(state: state, condition: checked)
      case .canReach(let state, let condition):
        requireState(state)
        guard var checked = condition else { break }
        checked.parsed = checkCondition(checked, event: .check)
        definition.checks[index].kind = .canReach(state: state, when: checked)
      case .finalReachable, .noDeadEnds:
        break
      }
    }
  }

  private mutating func requireState(_ name: Located<String>) {
    if stateIndex[name.value] == nil {
      report(
        .unknownState,
        "unknown state '\(name.value)'\(hint(for: name.value, in: .states))",
        at: name.location, length: name.value.count)
    }
  }

  mutating func checkGraph() {
    guard let startIndex = stateIndex[definition.start.value] else { return }
    let states = definition.states
    // Reachability over every transition (the deadline's from any state).
    var reached = [Bool](repeating: false, count: states.count)
    var pending = [startIndex]
    reached[startIndex] = true
    if let deadline = definition.deadline,
      let target = stateIndex[deadline.transition.target.value],
      !reached[target]
    {
      reached[target] = true
      pending.append(target)
    }
    while let index = pending.popLast() {
      let state = states[index]
      for transition in state.allTransitions {
        if let next = stateIndex[transition.target.value], !reached[next] {
          reached[next] = true
          pending.append(next)
        }
      }
    }
    for (index, state) in states.enumerated() where !reached[index] {
      report(
        .unreachableState,
        "state '\(state.name.value)' cannot be reached from the start state '\(definition.start.value)'",
        at: state.name.location, length: state.name.value.count)
    }
    // Cycles made only of `always` transitions run forever without an event.
    var color = [UInt8](repeating: 0, count: states.count)
    for root in states.indices where color[root] == 0 {
      var stack: [(state: Int, next: Int)] = [(root, 0)]
      color[root] = 1
      while let top = stack.last {
        let always = states[top.state].always
        if top.next >= always.count {
          color[top.state] = 2
          stack.removeLast()
          continue
        }
        stack[stack.count - 1].next += 1
        let transition = always[top.next]
        guard let next = stateIndex[transition.target.value] else { continue }
        if color[next] == 0 {
          color[next] = 1
          stack.append((next, 0))
        } else if color[next] == 1 {
          let path = stack.map(\.state)
          let cycle =
            path[(path.firstIndex(of: next) ?? 0)...].map { states[$0].name.value } + [
              states[next].name.value
            ]
          report(
            .alwaysLoop,
            "'always' transitions can loop without an event: \(cycle.joined(separator: " → ")); route one of them through a state that waits for an event",
            at: transition.target.location, length: transition.target.value.count)
        }
      }
    }
  }

  mutating func checkUnused() {
    // A condition that did not parse may use any guard; warning about unused ones would mislead.
    // Nor when a reference is misspelt: the intended guard or event is then reported as unused.
    let codes = Set(diagnostics.map(\.code))
    let guardsUncertain = codes.contains(.expressionSyntax) || codes.contains(.unknownGuard)
    let eventsUncertain = codes.contains(.unknownEvent)
    // A guard used only by other guards counts as used when they are.
    var used = usedGuards
    var pending = Array(usedGuards)
    while let current = pending.popLast() {
      for dependency in guardDependencies[current] ?? []
      where used.insert(dependency.value).inserted {
        pending.append(dependency.value)
      }
    }
    for guardDefinition in definition.guards
    where !guardsUncertain && !used.contains(guardDefinition.name.value) {
      report(
        .unusedGuard, "guard '\(guardDefinition.name.value)' is never used",
        at: guardDefinition.name.location, length: guardDefinition.name.value.count)
    }
    for event in definition.events where !eventsUncertain && !usedEvents.contains(event.name.value)
    {
      report(
        .unusedEvent, "event '\(event.name.value)' is declared but no state accepts it",
        at: event.name.location, length: event.name.value.count)
    }
  }
}
