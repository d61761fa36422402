/// Turns a composed YAML tree into a `FlowDefinition`, reporting every structural problem
/// (unknown keys, wrong types, missing keys, bad names) with its position.
///
/// It keeps going after a problem so one run shows them all; whatever it could not read is left
/// out of the definition, and the validator is not run when the loader reported errors.
struct FlowLoader {
  private(set) var diagnostics: [Diagnostic] = []

  static let topLevelKeys = [
    "flow", "version", "title", "description", "context", "settings", "guards", "events", "start",
    "states", "checks", "deadline", "messages",
  ]
  static let stateKeys = ["description", "on", "always", "after", "final", "outcome"]
  static let transitionKeys = ["to", "when", "do", "description", "unreachable", "reason"]
  static let timerKeys = ["in"] + transitionKeys
  static let deadlineKeys = ["in", "to", "do", "description"]

  mutating func load(_ root: YAMLNode?) -> FlowDefinition? {
    guard let root else {
      report(
        .wrongType,
        "the file is empty; a flow is a mapping with flow, version, title, start and states",
        at: SourceLocation(line: 1, column: 1))
      return nil
    }
    guard let top = mapping(root, what: "a flow file", keys: Self.topLevelKeys) else { return nil }
    let id = requiredValue(top, "flow", in: root).flatMap { kebabName($0, what: "a flow id") }
    let version = requiredValue(top, "version", in: root).flatMap {
      positiveInt($0, what: "version")
    }
    let title = requiredValue(top, "title", in: root).flatMap { text($0, what: "title") }
    if let title, title.value.allSatisfy(\.isWhitespace) {
      report(
        .invalidValue, "the title is empty; give the flow a short human title", at: title.location)
    }
    let description = top["description"].flatMap { text($0, what: "description") }?.value
    let context = top["context"].map { loadContext($0) } ?? []
    let settings = top["settings"].map { loadSettings($0) } ?? []
    let guards = top["guards"].map { loadGuards($0) } ?? []
    let events = top["events"].map { loadEvents($0) } ?? []
    let start = requiredValue(top, "start", in: root).flatMap { name($0, what: "a start state") }
    let states = requiredValue(top, "states", in: root).map { loadStates($0) } ?? []
    let checks = top["checks"].map { loadChecks($0) } ?? []
    let deadline = top["deadline"].flatMap {
      timer($0, keys: Self.deadlineKeys, what: "the deadline")
    }
    // Missing or malformed header values were reported; placeholders let the rest be checked.
    let placeholder = Located("", at: root.location)
    var definition = FlowDefinition(
      id: id ?? placeholder, version: version ?? Located(1, at: root.location),
      title: title ?? placeholder, description: description, context: context,
      settings: settings, guards: guards, events: events, start: start ?? placeholder,
      states: states, location: root.location, contextLocation: top["context"]?.location,
      checks: checks)
    definition.deadline = deadline
    definition.messages = top["messages"].map { loadMessages($0) } ?? []
    return definition
  }

  /// `messages:`: message name → channel → template, or message name → variant → channel →
  /// template. A template is text (SMS) or `{ subject, body }` (email); which names and
  /// channels exist is the catalog's, checked by the validator.
  private mutating func loadMessages(_ node: YAMLNode) -> [MessageDefinition] {
    var result: [MessageDefinition] = []
    for (nameNode, value) in entries(node, what: "messages") {
      guard let name = kebabOrName(nameNode, what: "a message name") else { continue }
      for (keyNode, inner) in entries(value, what: "the message '\(name.value)'") {
        guard let key = kebabOrName(keyNode, what: "a channel or variant") else { continue }
        if Self.isTemplateValue(inner) {
          if let template = messageTemplate(name, nil, key, inner) { result.append(template) }
          continue
        }
        for (channelNode, leaf) in entries(inner, what: "the variant '\(key.value)'") {
          guard let channel = kebabOrName(channelNode, what: "a channel") else { continue }
          if let template = messageTemplate(name, key, channel, leaf) { result.append(template) }
        }
      }
    }
    return result
  }

  /// Text, or a mapping with `subject` or `body`: a template rather than a variant's channels.
  static func isTemplateValue(_ node: YAMLNode) -> Bool {
    switch node.content {
    case .scalar, .sequence: return true
    case .mapping(let pairs):
      return pairs.contains { pair in
        if case .scalar(let key, _) = pair.key.content { return key == "subject" || key == "body" }
        return false
      }
    }
  }

  private mutating func messageTemplate(
    _ name: Located<String>, _ variant: Located<String>?, _ channel: Located<String>,
    _ node: YAMLNode
  ) -> MessageDefinition? {
    if case .scalar = node.content {
      guard let body = templateText(node, what: "a message template") else { return nil }
      return MessageDefinition(
        name: name, variant: variant, channel: channel, subject: nil, body: body,
        location: node.location, hasParts: false)
    }
    guard let fields = mapping(node, what: "an email template", keys: ["subject", "body"]) else {
      return nil
    }
    guard let bodyNode = fields["body"] else {
      report(
        .missingKey, "the template has no 'body'; write the message's text under body",
        at: node.location)
      return nil
    }
    let subject = fields["subject"].flatMap { templateText($0, what: "a subject") }
    guard let body = templateText(bodyNode, what: "a body") else { return nil }
    return MessageDefinition(
      name: name, variant: variant, channel: channel, subject: subject, body: body,
      location: node.location, hasParts: true)
  }

  /// A template's text, with the column map a condition's text has (placeholders point there).
  private mutating func templateText(_ node: YAMLNode, what: String) -> GuardSource? {
    guard case .scalar = node.content else {
      report(
        .wrongType, "\(what) must be text; found \(node.kindDescription)", at: node.location,
        length: node.width)
      return nil
    }
    return guardSource(node, what: what)
  }

  /// A message, variant or channel name: `code`, `numberChanged`, `step-up`, `sms`.
  private mutating func kebabOrName(_ node: YAMLNode, what: String) -> Located<String>? {
    checkedName(
      node, what: what, isValid: { Self.isName($0) || Self.isKebabName($0) },
      rule: "use a name such as code, numberChanged, step-up or sms")
  }

  static let checkKeys = [
    "name", "reaches", "via", "when", "performs", "in", "holds", "canReach", "finalReachable",
    "noDeadEnds",
  ]

  /// `checks:` items: properties proven over every path (see `CheckDefinition`).
  private mutating func loadChecks(_ node: YAMLNode) -> [CheckDefinition] {
    let items: [YAMLNode]
    switch node.content {
    case .sequence(let list): items = list
    case .scalar(let raw, .plain) where raw.isEmpty || raw == "~" || raw == "null": items = []
    default:
      report(
        .wrongType, "checks must be a list; found \(node.kindDescription)", at: node.location,
        length: node.width)
      return []
    }
    return items.compactMap { item -> CheckDefinition? in
      guard let fields = mapping(item, what: "a check", keys: Self.checkKeys) else { return nil }
      guard let nameNode = fields["name"], let name = text(nameNode, what: "name") else {
        report(
          .missingKey, "this check has no 'name': say in words what it proves", at: item.location)
        return nil
      }
      let kinds = ["reaches", "performs", "in", "canReach", "finalReachable", "noDeadEnds"].filter {
        fields[$0] != nil
      }
      guard kinds.count == 1 else {
        report(
          .wrongType,
          "a check has exactly one of reaches (with via or when), performs (with when), in (with holds), canReach (with an optional when), finalReachable or noDeadEnds",
          at: item.location)
        return nil
      }
      let kind: CheckDefinition.Kind
      switch kinds[0] {
      case "reaches":
        guard let state = self.name(fields["reaches"]!, what: "a state") else { return nil }
        if let viaNode = fields["via"], fields["when"] == nil {
          guard let via = self.name(viaNode, what: "a state") else { return nil }
          kind = .reachesVia(state: state, via: via)
        } else if let whenNode = fields["when"], fields["via"] == nil {
          guard let condition = guardSource(whenNode, what: "'when'") else { return nil }
          kind = .reachesWhen(state: state, condition: condition)
        } else {
          report(
            .wrongType, "'reaches' takes exactly one of 'via' (a state) or 'when' (a condition)",
            at: item.location)
          return nil
        }
      case "performs":
        guard let action = self.name(fields["performs"]!, what: "an action") else { return nil }
        guard let whenNode = fields["when"], fields["via"] == nil else {
          report(
            .wrongType,
            "'performs' takes a 'when' condition that must hold whenever the action runs",
            at: item.location)
          return nil
        }
        guard let condition = guardSource(whenNode, what: "'when'") else { return nil }
        kind = .performsWhen(action: action, condition: condition)
      case "in":
        guard let node = fields["in"], let state = self.name(node, what: "a state") else {
          return nil
        }
        guard let holdsNode = fields["holds"], fields["via"] == nil, fields["when"] == nil else {
          report(
            .wrongType,
            "'in' takes a 'holds' condition that must be true whenever the session enters the state",
            at: item.location)
          return nil
        }
        guard let condition = guardSource(holdsNode, what: "'holds'") else { return nil }
        kind = .holdsIn(state: state, condition: condition)
      case "canReach":
        guard let node = fields["canReach"], let state = self.name(node, what: "a state") else {
          return nil
        }
        if fields["via"] != nil {
          report(
            .wrongType, "'canReach' takes an optional 'when' (a condition on the start), not 'via'",
            at: item.location)
          return nil
        }
        var condition: GuardSource?
        if let whenNode = fields["when"] {
          guard let parsed = guardSource(whenNode, what: "'when'") else { return nil }
          condition = parsed
        }
        kind = .canReach(state: state, when: condition)
      default:
        let key = kinds[0]
        guard bool(fields[key]!, what: key) == true else {
          report(
            .invalidValue, "\(key) takes true (leave the check out to skip it)",
            at: fields[key]!.location)
          return nil
        }
        if fields["via"] != nil || fields["when"] != nil || fields["holds"] != nil {
          report(.wrongType, "\(key) takes no 'via', 'when' or 'holds'", at: item.location)
          return nil
        }
        kind = key == "finalReachable" ? .finalReachable : .noDeadEnds
      }
      return CheckDefinition(name: name, kind: kind, location: item.location)
    }
  }

  // MARK: - Sections

  private mutating func loadContext(_ node: YAMLNode) -> [ContextField] {
    entries(node, what: "context (name: type)").compactMap { key, value in
      guard let fieldName = name(key, what: "a context field"), let type = typeName(value) else {
        return nil
      }
      return ContextField(name: fieldName, type: type)
    }
  }

  private mutating func loadSettings(_ node: YAMLNode) -> [Setting] {
    entries(node, what: "settings (name: value)").compactMap { key, value in
      guard let settingName = name(key, what: "a setting") else { return nil }
      guard case .scalar(let raw, let style) = value.content, !(style == .plain && raw.isEmpty)
      else {
        report(
          .wrongType,
          "setting '\(settingName.value)' must be a number, a duration such as 10m, true/false or text; found \(value.kindDescription)",
          at: value.location, length: value.width)
        return nil
      }
      return Setting(
        name: settingName, value: Located(Self.settingValue(raw, style: style), at: value.location))
    }
  }

  static func settingValue(_ raw: String, style: YAMLNode.ScalarStyle) -> Value {
    guard style == .plain else { return .string(raw) }
    if let number = Int(raw) { return .int(number) }
    if raw == "true" || raw == "false" { return .bool(raw == "true") }
    if let seconds = Value.parseDuration(raw) { return .duration(seconds) }
    return .string(raw)
  }

  private mutating func loadGuards(_ node: YAMLNode) -> [GuardDefinition] {
    entries(node, what: "guards (name: condition)").compactMap { key, value in
      guard let guardName = name(key, what: "a guard"),
        let source = guardSource(value, what: "guard '\(guardName.value)'")
      else { return nil }
      return GuardDefinition(name: guardName, expression: source)
    }
  }

  private mutating func loadEvents(_ node: YAMLNode) -> [EventDefinition] {
    entries(node, what: "events (name: {field: type})").compactMap { key, value in
      guard let eventName = name(key, what: "an event") else { return nil }
      if case .scalar(let raw, .plain) = value.content, raw.isEmpty || raw == "~" || raw == "null" {
        return EventDefinition(name: eventName, fields: [])
      }
      guard case .mapping = value.content else {
        report(
          .wrongType,
          "event '\(eventName.value)' must map payload fields to types, or be {} when it carries none; found \(value.kindDescription)",
          at: value.location, length: value.width)
        // Keep the event declared so its uses are not reported as unknown as well.
        return EventDefinition(name: eventName, fields: [], payloadIsKnown: false)
      }
      let fields = entries(value, what: "payload fields").compactMap {
        fieldKey, fieldValue -> PayloadField? in
        guard let fieldName = name(fieldKey, what: "a payload field"),
          let type = typeName(fieldValue)
        else {
          return nil
        }
        return PayloadField(name: fieldName, type: type)
      }
      return EventDefinition(name: eventName, fields: fields)
    }
  }

  private mutating func loadStates(_ node: YAMLNode) -> [StateDefinition] {
    entries(node, what: "states (name: state)").compactMap { key, value in
      guard let stateName = name(key, what: "a state") else { return nil }
      return loadState(stateName, value)
    }
  }

  private mutating func loadState(_ stateName: Located<String>, _ node: YAMLNode)
    -> StateDefinition?
  {
    guard let fields = mapping(node, what: "state '\(stateName.value)'", keys: Self.stateKeys)
    else { return nil }
    var state = StateDefinition(name: stateName)
    state.description = fields["description"].flatMap { text($0, what: "description") }?.value
    if let finalNode = fields["final"] {
      state.isFinal = bool(finalNode, what: "final") ?? false
      state.finalLocation = finalNode.location
    }
    state.outcome = fields["outcome"].flatMap { kebabName($0, what: "an outcome") }
    if let onNode = fields["on"] {
      state.on = entries(onNode, what: "on (event: transition)").compactMap { key, value in
        guard let event = name(key, what: "an event") else { return nil }
        return EventHandler(event: event, transitions: transitions(value))
      }
    }
    if let alwaysNode = fields["always"] {
      state.always = transitions(alwaysNode)
    }
    if let afterNode = fields["after"] {
      let items: [YAMLNode]
      if case .sequence(let list) = afterNode.content {
        items = list
        if list.isEmpty {
          report(
            .wrongType, "the list of timers is empty; give at least one or remove 'after'",
            at: afterNode.location, length: afterNode.width)
        }
      } else {
        items = [afterNode]
      }
      state.after = items.compactMap { timer($0, keys: Self.timerKeys, what: "an 'after' entry") }
    }
    return state
  }

  /// An `after:` entry or the `deadline`: `{ in: 15m, to: expired, … }`.
  private mutating func timer(_ node: YAMLNode, keys: [String], what: String) -> TimerDefinition? {
    guard case .mapping(let pairs) = node.content else {
      report(
        .wrongType,
        "\(what) is a mapping such as { in: 15m, to: expired }; found \(node.kindDescription)",
        at: node.location, length: node.width)
      return nil
    }
    // The transition's reader reports unknown keys and a missing 'to'.
    let transition = transition(node, keys: keys)
    let delayNode = pairs.first { pair in
      if case .scalar("in", _) = pair.key.content { return true }
      return false
    }?.value
    guard let delayNode else {
      report(
        .missingKey,
        "\(what) has no 'in': say how long to wait, as a duration (15m) or a setting (settings.idleTimeout)",
        at: node.location)
      return nil
    }
    guard let delay = text(delayNode, what: "'in'"), let transition else { return nil }
    return TimerDefinition(delay: delay, transition: transition)
  }

  /// A transition list: `target`, `{to: …}`, or a list of those tried in order.
  private mutating func transitions(_ node: YAMLNode) -> [TransitionDefinition] {
    if case .sequence(let items) = node.content {
      if items.isEmpty {
        report(
          .wrongType, "the list of transitions is empty; give at least one", at: node.location,
          length: node.width)
      }
      return items.compactMap { transition($0) }
    }
    return transition(node).map { [$0] } ?? []
  }

  private mutating func transition(_ node: YAMLNode, keys: [String] = transitionKeys)
    -> TransitionDefinition?
  {
    if case .scalar(let raw, .plain) = node.content, raw.isEmpty || raw == "~" || raw == "null" {
      report(
        .missingKey,
        "this transition has no target: name the state it goes to (for example cancel: cancelled)",
        at: node.location)
      return nil
    }
    if case .scalar = node.content {
      guard let target = name(node, what: "a target state") else { return nil }
      return TransitionDefinition(target: target, location: node.location)
    }
    guard let fields = mapping(node, what: "a transition", keys: keys) else {
      return nil
    }
    guard let targetNode = fields["to"] else {
      report(
        .missingKey, "this transition has no 'to': name the state it goes to", at: node.location)
      return nil
    }
    guard let target = name(targetNode, what: "a target state") else { return nil }
    var definition = TransitionDefinition(target: target, location: node.location)
    definition.guardSource = fields["when"].flatMap { guardSource($0, what: "'when'") }
    definition.description = fields["description"].flatMap { text($0, what: "description") }?.value
    if let unreachableNode = fields["unreachable"] {
      definition.isUnreachable = bool(unreachableNode, what: "unreachable") ?? false
      let reason = fields["reason"].flatMap { text($0, what: "reason") }?.value
      if definition.isUnreachable, reason == nil, definition.description == nil {
        report(
          .missingKey,
          "a transition declared unreachable needs a 'reason': say why no path can take it",
          at: unreachableNode.location)
      }
      definition.unreachableReason = reason ?? definition.description
    }
    if let actionsNode = fields["do"] {
      let items: [YAMLNode]
      if case .sequence(let list) = actionsNode.content {
        items = list
      } else {
        items = [actionsNode]
      }
      definition.actions = items.compactMap { actionCall($0) }
    }
    return definition
  }

  /// `savePhone` or `sendCode: { purpose: disable-2fa, to: target.phone }`.
  private mutating func actionCall(_ node: YAMLNode) -> ActionCall? {
    switch node.content {
    case .scalar:
      return name(node, what: "an action").map { ActionCall(name: $0, arguments: []) }
    case .mapping(let pairs) where pairs.count == 1:
      guard let actionName = name(pairs[0].key, what: "an action") else { return nil }
      let argumentsNode = pairs[0].value
      if case .scalar(let raw, .plain) = argumentsNode.content, raw.isEmpty {
        return ActionCall(name: actionName, arguments: [])
      }
      guard case .mapping = argumentsNode.content else {
        report(
          .wrongType,
          "the arguments of '\(actionName.value)' must be a mapping such as { name: value }; found \(argumentsNode.kindDescription)",
          at: argumentsNode.location, length: argumentsNode.width)
        return nil
      }
      let arguments = entries(argumentsNode, what: "arguments").compactMap {
        key, value -> ActionArgument? in
        guard let argumentName = name(key, what: "an argument") else { return nil }
        guard case .scalar(_, let style) = value.content else {
          report(
            .wrongType,
            "argument '\(argumentName.value)' must be one value (a name, a number, a duration or text); found \(value.kindDescription)",
            at: value.location, length: value.width)
          return nil
        }
        guard let source = guardSource(value, what: "argument '\(argumentName.value)'") else {
          return nil
        }
        return ActionArgument(name: argumentName, source: source, isPlain: style == .plain)
      }
      return ActionCall(name: actionName, arguments: arguments)
    default:
      report(
        .wrongType,
        "an action is a name, or one name mapped to its arguments; found \(node.kindDescription)",
        at: node.location, length: node.width)
      return nil
    }
  }

  // MARK: - Typed readers

  private mutating func report(
    _ code: DiagnosticCode, _ message: String, at location: SourceLocation, length: Int = 1
  ) {
    diagnostics.append(Diagnostic(code, message, at: location, length: length))
  }

  /// Reads a mapping and reports keys outside `keys`, with a suggestion for near misses.
  private mutating func mapping(_ node: YAMLNode, what: String, keys: [String]) -> Fields? {
    guard case .mapping(let pairs) = node.content else {
      report(
        .wrongType, "\(what) must be a mapping; found \(node.kindDescription)", at: node.location,
        length: node.width)
      return nil
    }
    var result = Fields()
    for pair in pairs {
      guard case .scalar(let key, _) = pair.key.content else {
        report(
          .wrongType, "keys must be plain names; found \(pair.key.kindDescription)",
          at: pair.key.location)
        continue
      }
      guard keys.contains(key) else {
        report(
          .unknownKey,
          "unknown key '\(key)' in \(what)\(Suggestion.hint(for: key, in: keys)); expected one of: \(keys.joined(separator: ", "))",
          at: pair.key.location, length: pair.key.width)
        continue
      }
      result.values.append((key, pair.value))
    }
    return result
  }

  /// The entries of a name-to-value mapping section, in file order; `{}` or an empty value is fine.
  private mutating func entries(_ node: YAMLNode, what: String) -> [(YAMLNode, YAMLNode)] {
    switch node.content {
    case .mapping(let pairs):
      return pairs.map { ($0.key, $0.value) }
    case .scalar(let raw, .plain) where raw.isEmpty || raw == "~" || raw == "null":
      return []
    default:
      report(
        .wrongType, "\(what) must be a mapping; found \(node.kindDescription)", at: node.location,
        length: node.width)
      return []
    }
  }

  private mutating func requiredValue(
    _ fields: Fields, _ key: String, in parent: YAMLNode
  ) -> YAMLNode? {
    guard let value = fields[key] else {
      report(.missingKey, "the flow has no '\(key)'; it is required", at: parent.location)
      return nil
    }
    return value
  }

  private mutating func text(_ node: YAMLNode, what: String) -> Located<String>? {
    guard case .scalar(let raw, _) = node.content else {
      report(
        .wrongType, "\(what) must be text; found \(node.kindDescription)", at: node.location,
        length: node.width)
      return nil
    }
    return Located(raw, at: node.location)
  }

  private mutating func bool(_ node: YAMLNode, what: String) -> Bool? {
    guard case .scalar(let raw, .plain) = node.content, raw == "true" || raw == "false" else {
      var hint = ""
      if case .scalar(let raw, _) = node.content,
        ["yes", "no", "on", "off", "y", "n"].contains(raw.lowercased())
      {
        hint = " (YAML 1.1's yes/no/on/off are not booleans here)"
      }
      report(
        .wrongType, "\(what) must be true or false; found \(node.kindDescription)\(hint)",
        at: node.location, length: node.width)
      return nil
    }
    return raw == "true"
  }

  private mutating func positiveInt(_ node: YAMLNode, what: String) -> Located<Int>? {
    guard case .scalar(let raw, .plain) = node.content, let number = Int(raw) else {
      report(
        .wrongType, "\(what) must be a whole number; found \(node.kindDescription)",
        at: node.location, length: node.width)
      return nil
    }
    guard number >= 1 else {
      report(
        .invalidValue, "\(what) must be 1 or more; found \(number)", at: node.location,
        length: node.width)
      return nil
    }
    return Located(number, at: node.location)
  }

  /// Names of states, events, guards, fields: a letter, then letters, digits or `_`.
  private mutating func name(_ node: YAMLNode, what: String) -> Located<String>? {
    checkedName(
      node, what: what, isValid: Self.isName,
      rule: "use a letter, then letters, digits or _ (for example verifyingCode)")
  }

  /// Flow ids and outcomes: lowercase words joined by `-`, such as `needs-support`.
  private mutating func kebabName(_ node: YAMLNode, what: String) -> Located<String>? {
    checkedName(
      node, what: what, isValid: Self.isKebabName,
      rule: "use lowercase words joined by '-' (for example needs-support)")
  }

  private mutating func checkedName(
    _ node: YAMLNode, what: String, isValid: (String) -> Bool, rule: String
  ) -> Located<String>? {
    guard case .scalar(let raw, _) = node.content else {
      report(
        .wrongType, "\(what) must be a name; found \(node.kindDescription)", at: node.location,
        length: node.width)
      return nil
    }
    if raw == "<<" {
      report(
        .invalidName, "YAML merge keys (<<) are not supported in flow files; write the keys out",
        at: node.location, length: 2)
      return nil
    }
    guard isValid(raw) else {
      report(
        .invalidName, "'\(raw)' is not a valid name for \(what): \(rule)", at: node.location,
        length: node.width)
      return nil
    }
    return Located(raw, at: node.location)
  }

  private mutating func typeName(_ node: YAMLNode) -> Located<String>? {
    name(node, what: "a type")
  }

  private mutating func guardSource(_ node: YAMLNode, what: String) -> GuardSource? {
    guard case .scalar(let raw, let style) = node.content else {
      report(
        .wrongType, "\(what) must be a condition written as text; found \(node.kindDescription)",
        at: node.location, length: node.width)
      return nil
    }
    if let tag = node.tag, tag.hasPrefix("!"), !tag.hasPrefix("!!") {
      let word = String(tag.dropFirst())
      report(
        .expressionSyntax,
        "YAML reads '!\(word)' as a tag, not as 'not': write 'not \(word)\(raw.isEmpty ? "" : " " + raw)'",
        at: node.location, length: tag.count)
      return nil
    }
    let singleLine = node.end.line == node.location.line
    // Offsets inside the text map to columns only when the text is written out as-is: plain, or
    // quoted without escapes (the quoted width is then the text plus its two quotes).
    let exactQuoted =
      singleLine && node.end.column - node.location.column == raw.unicodeScalars.count + 2
    let shift: Int? =
      switch style {
      case .plain: singleLine ? 0 : nil
      case .quoted: exactQuoted ? 1 : nil
      case .block: nil
      }
    return GuardSource(text: raw, location: node.location, columnShift: shift)
  }

  static func isName(_ text: String) -> Bool {
    guard let first = text.unicodeScalars.first, first.isASCIILetter else { return false }
    return text.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" }
  }

  static func isKebabName(_ text: String) -> Bool {
    guard let first = text.unicodeScalars.first, first.isASCIILowercase, text.last != "-",
      !text.contains("--")
    else { return false }
    return text.unicodeScalars.allSatisfy { $0.isASCIILowercase || $0.isASCIIDigit || $0 == "-" }
  }
}

/// The known keys of a small mapping, looked up by a linear scan (cheaper than hashing for the
/// handful of keys a state or transition has).
struct Fields {
  var values: [(key: String, value: YAMLNode)] = []

  subscript(key: String) -> YAMLNode? {
    values.first { $0.key == key }?.value
  }
}

extension Unicode.Scalar {
  var isASCIILetter: Bool { (self >= "a" && self <= "z") || (self >= "A" && self <= "Z") }
  var isASCIILowercase: Bool { self >= "a" && self <= "z" }
  var isASCIIDigit: Bool { self >= "0" && self <= "9" }
}
