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
          var facts = ["\(parameter.type)", parameter.isRequired ? "required" : "optional"]
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

  /// Actions in the order the catalog lists them.
  private func order(_ name: String) -> Int {
    actionOrder.firstIndex(of: name) ?? Int.max
  }
}
