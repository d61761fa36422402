extension Catalog {
  /// The reference table of the catalog's actions, in Markdown: every argument (type, whether
  /// it is required, its range) and every result field, with the catalog's own words.
  /// docs/flow-language.md section 5 is this table (a test fails when they drift), and
  /// `flowctl catalog` prints it.
  public var actionsMarkdown: String {
    var lines = [
      "| Action | Arguments | Result fields | What it does |",
      "|---|---|---|---|",
    ]
    for name in actions.keys.sorted(by: { order($0) < order($1) }) {
      guard let action = actions[name] else { continue }
      let arguments =
        action.parameters.isEmpty
        ? "none"
        : action.parameters.map { parameter in
          var facts = [
            describe(parameter.type), parameter.isRequired ? "required" : "optional",
          ]
          if let range = parameter.range {
            facts.append(
              parameter.type == .duration
                ? "\(Value.format(duration: range.lowerBound)) to \(Value.format(duration: range.upperBound))"
                : "\(range.lowerBound) to \(range.upperBound)")
          }
          return "`\(parameter.name)` (\(facts.joined(separator: ", "))): \(parameter.summary)."
        }.joined(separator: " ")
      let results =
        action.result.isEmpty
        ? "none"
        : action.result.map { "`\($0.name)` (\($0.type)): \($0.summary)." }.joined(separator: " ")
      var summary = action.summary.prefix(1).uppercased() + action.summary.dropFirst()
      if !summary.hasSuffix(".") { summary += "." }
      if action.resultsLastOneStep {
        summary += " Its results describe this step only: the next step reads them as false or 0."
      }
      lines.append("| `\(name)` | \(arguments) | \(results) | \(summary) |")
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// A type as the table shows it: an enumeration with its cases, a union with its members.
  private func describe(_ type: ValueType) -> String {
    switch type {
    case .enumeration(let name, let cases):
      return "\(name): \(cases.joined(separator: ", "))"
    case .scalar(let name):
      guard let members = scalarUnions[name] else { return name }
      return "\(name): \(members.sorted().joined(separator: " or "))"
    default:
      return type.description
    }
  }

  /// The reference table of the messages a flow may word in `messages:`: each message's
  /// variants, placeholders (secrets marked) and default wording per channel.
  public var messagesMarkdown: String {
    var lines = [
      "| Message | Variants | Placeholders | Default wording |",
      "|---|---|---|---|",
    ]
    for message in messages.signatures {
      let variants =
        message.variants.isEmpty
        ? "none" : message.variants.map { "`\($0)`" }.joined(separator: ", ")
      let placeholders = message.placeholders.map { placeholder in
        let required = message.required.contains(placeholder.name) ? ", required" : ""
        let secret = placeholder.isSecret ? ", only here" : ""
        return "`{\(placeholder.name)}`\(required)\(secret): \(placeholder.summary)."
      }.joined(separator: " ")
      let defaults = messages.channels.compactMap { channel -> String? in
        guard let template = message.defaults[channel.name] else { return nil }
        let subject = template.subject.map { "subject \"\($0)\", body " } ?? ""
        return "\(channel.name): \(subject)\"\(template.body)\""
      }.joined(separator: "; ")
      lines.append("| `\(message.name)` | \(variants) | \(placeholders) | \(defaults) |")
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Actions in the order the catalog lists them.
  private func order(_ name: String) -> Int {
    actionOrder.firstIndex(of: name) ?? Int.max
  }
}
