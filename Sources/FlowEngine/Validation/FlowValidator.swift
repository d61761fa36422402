/// Checks a loaded flow against itself and the host's catalog, collecting every problem.
///
/// What it guarantees for a flow with no errors: every name resolves (states, events, guards,
/// actions, facts, payload fields, types); every guard parses, is a condition and compares like
/// with like; every action gets the arguments it takes; the machine has a start, no dead ends,
/// no eventless loops, and every final state says how the flow ended.
public struct FlowValidator {
  public let catalog: Catalog
  public let limits: LoadLimits

  public init(catalog: Catalog, limits: LoadLimits = .standard) {
    self.catalog = catalog
    self.limits = limits
  }

  /// The diagnostics for `definition`, and the definition with every expression parsed.
  public func validate(_ definition: FlowDefinition) -> (FlowDefinition, [Diagnostic]) {
    var run = ValidationRun(definition: definition, catalog: catalog, limits: limits)
    run.run()
    return (run.definition, run.diagnostics)
  }
}

/// The name sets of a flow that can hold thousands of names: hints over them use an index.
enum SuggestionSet: Hashable {
  case states
  case events
  /// What a condition's first name can be: guards, context fields, event, settings, actions.
  case roots
  /// Every payload field of every event.
  case payloadFields
}

extension ValidationRun {
  /// " (did you mean 'x'?)" or "" for an unknown name among one of the flow's large name sets.
  /// Each set's index is built once; the sets are complete before names are resolved, except
  /// the actions called so far, so the roots' index is rebuilt when that set has grown.
  mutating func hint(for name: String, in set: SuggestionSet) -> String {
    if let (index, actions) = suggestionIndexes[set],
      set != .roots || actions == calledActions.count
    {
      return index.hint(for: name)
    }
    let candidates: [String]
    switch set {
    case .states: candidates = Array(stateIndex.keys)
    case .events: candidates = Array(eventFields.keys)
    case .roots:
      candidates =
        Array(guardIndex.keys) + Array(contextTypes.keys) + ["event", "settings"]
        + Array(calledActions)
    case .payloadFields: candidates = eventFields.values.flatMap(\.keys)
    }
    let index = SuggestionIndex(candidates)
    suggestionIndexes[set] = (index, calledActions.count)
    return index.hint(for: name)
  }
}

/// The state of one validation: tables built from the definition, and what was found so far.
struct ValidationRun {
  var definition: FlowDefinition
  let catalog: Catalog
  let limits: LoadLimits
  var diagnostics: [Diagnostic] = []

  var contextTypes: [String: ValueType] = [:]
  var settingValues: [String: Value] = [:]
  var guardIndex: [String: Int] = [:]
  var eventFields: [String: [String: ValueType]] = [:]
  /// Every declared payload field per event, including those whose type is unknown.
  var declaredFields: [String: Set<String>] = [:]
  /// Events whose payload declaration could not be read.
  var unknownPayloads: Set<String> = []
  /// The single type of each payload field name across events, for guards that read `event.x`.
  var payloadFieldTypes: [String: ValueType] = [:]
  var stateIndex: [String: Int] = [:]
  var calledActions: Set<String> = []

  /// Per named guard: its type once checked, the event fields it reads (with the guards it uses).
  var guardTypes: [String: ValueType?] = [:]
  var guardEventFields: [String: [String: SourceLocation]] = [:]
  var guardDependencies: [String: [Located<String>]] = [:]
  var usedGuards: Set<String> = []
  var usedEvents: Set<String> = []
  /// "Did you mean" indexes of the large name sets, built on first use (see `hint(for:in:)`).
  var suggestionIndexes: [SuggestionSet: (index: SuggestionIndex, actions: Int)] = [:]
  /// Parsed expressions by text: flows repeat the same conditions and arguments many times.
  var parsedExpressions: [String: Result<Expression, ExpressionSyntaxError>] = [:]

  init(definition: FlowDefinition, catalog: Catalog, limits: LoadLimits) {
    self.definition = definition
    self.catalog = catalog
    self.limits = limits
  }

  mutating func report(
    _ code: DiagnosticCode, _ message: String, at location: SourceLocation, length: Int = 1
  ) {
    diagnostics.append(Diagnostic(code, message, at: location, length: length))
  }

  mutating func run() {
    checkLimits()
    buildContext()
    buildSettings()
    buildEvents()
    buildStates()
    buildGuardIndex()
    checkGuards()
    checkStates()
    checkChecks()
    checkMessages()
    checkGraph()
    checkUnused()
  }

  private mutating func checkLimits() {
    if definition.states.count > limits.maxStates {
      report(
        .limitExceeded,
        "the flow has \(definition.states.count) states, more than the limit of \(limits.maxStates)",
        at: definition.location)
    }
    let transitions = definition.states.reduce(0) { total, state in
      total + state.always.count + state.on.reduce(0) { $0 + $1.transitions.count }
    }
    if transitions > limits.maxTransitions {
      report(
        .limitExceeded,
        "the flow has \(transitions) transitions, more than the limit of \(limits.maxTransitions)",
        at: definition.location)
    }
  }

  static let reservedRoots: Set<String> = [
    "event", "settings", "true", "false", "and", "or", "not", "in",
  ]

  func resolveType(_ name: Located<String>) -> ValueType? {
    catalog.types[name.value]
  }

  private mutating func resolveTypeReporting(_ name: Located<String>) -> ValueType? {
    if let type = resolveType(name) { return type }
    report(
      .unknownType,
      "unknown type '\(name.value)'\(Suggestion.hint(for: name.value, in: catalog.types.keys)); known types: \(catalog.types.keys.sorted().joined(separator: ", "))",
      at: name.location, length: name.value.count)
    return nil
  }

  private mutating func buildContext() {
    for field in definition.context {
      if Self.reservedRoots.contains(field.name.value) {
        report(
          .nameConflict,
          "'\(field.name.value)' is a reserved word in conditions; choose another name",
          at: field.name.location, length: field.name.value.count)
      }
      if catalog.actions[field.name.value] != nil {
        report(
          .nameConflict,
          "context field '\(field.name.value)' has the name of an action, whose result guards read by that name; choose another name",
          at: field.name.location, length: field.name.value.count)
      }
      if let type = resolveTypeReporting(field.type) {
        contextTypes[field.name.value] = type
      }
    }
    for required in catalog.requiredContext {
      guard let declared = definition.context.first(where: { $0.name.value == required.name })
      else {
        report(
          .missingContext,
          "this host runs flows with the context field '\(required.name): \(required.type)'; declare it under 'context'",
          at: definition.contextLocation ?? definition.location)
        // Go on as if it were declared, so its uses are not reported as well.
        contextTypes[required.name] = catalog.types[required.type]
        continue
      }
      if declared.type.value != required.type, resolveType(declared.type) != nil {
        report(
          .missingContext,
          "context field '\(required.name)' must have type '\(required.type)', not '\(declared.type.value)'",
          at: declared.type.location, length: declared.type.value.count)
        contextTypes[required.name] = catalog.types[required.type]
      }
    }
  }

  private mutating func buildSettings() {
    for setting in definition.settings {
      settingValues[setting.name.value] = setting.value.value
      // The engine reads this one itself: how long a session lives (SECURITY.md 27).
      if setting.name.value == "sessionMaxAge" {
        guard case .duration(let seconds) = setting.value.value, seconds > 0 else {
          report(
            .invalidValue,
            "setting 'sessionMaxAge' is how long a session lives; it must be a duration such as 15m or 1h, not \(setting.value.value)",
            at: setting.value.location, length: max(1, setting.value.value.description.count))
          continue
        }
      }
    }
  }

  private mutating func buildEvents() {
    var firstDeclaration: [String: (type: ValueType, event: String)] = [:]
    var conflicting: Set<String> = []
    for event in definition.events {
      var fields: [String: ValueType] = [:]
      if !event.payloadIsKnown { unknownPayloads.insert(event.name.value) }
      declaredFields[event.name.value] = Set(event.fields.map(\.name.value))
      for field in event.fields {
        guard let type = resolveTypeReporting(field.type) else { continue }
        fields[field.name.value] = type
        if let first = firstDeclaration[field.name.value] {
          if first.type != type, !conflicting.contains(field.name.value) {
            conflicting.insert(field.name.value)
            report(
              .nameConflict,
              "payload field '\(field.name.value)' has type '\(type)' here but '\(first.type)' in event '\(first.event)'; a field name has one type across events",
              at: field.type.location, length: field.type.value.count)
          }
        } else {
          firstDeclaration[field.name.value] = (type, event.name.value)
        }
      }
      eventFields[event.name.value] = fields
    }
    for (name, entry) in firstDeclaration where !conflicting.contains(name) {
      payloadFieldTypes[name] = entry.type
    }
  }

  private mutating func buildStates() {
    for (index, state) in definition.states.enumerated() {
      stateIndex[state.name.value] = index
      for transition in state.allTransitions {
        for call in transition.actions { calledActions.insert(call.name.value) }
      }
    }
    for call in definition.deadline?.transition.actions ?? [] {
      calledActions.insert(call.name.value)
    }
  }

  private mutating func buildGuardIndex() {
    for (index, guardDefinition) in definition.guards.enumerated() {
      let name = guardDefinition.name
      guardIndex[name.value] = index
      let conflict: String? =
        if Self.reservedRoots.contains(name.value) {
          "'\(name.value)' is a reserved word in conditions"
        } else if contextTypes[name.value] != nil
          || definition.context.contains(where: { $0.name.value == name.value })
        {
          "guard '\(name.value)' has the name of a context field"
        } else if catalog.actions[name.value] != nil {
          "guard '\(name.value)' has the name of an action"
        } else {
          nil
        }
      if let conflict {
        report(
          .nameConflict, conflict + "; choose another name", at: name.location,
          length: name.value.count)
      }
    }
  }
}
