/// Typed reading of a YAML tree with diagnostics, for the file formats beside flows (worlds,
/// event scripts, scenarios): each problem is reported at its node and reading goes on.
public struct YAMLReader: Sendable {
  public private(set) var diagnostics: [Diagnostic] = []

  public init() {}

  public mutating func report(_ code: DiagnosticCode, _ message: String, at node: YAMLNode) {
    diagnostics.append(Diagnostic(code, message, at: node.location, length: node.width))
  }

  public mutating func report(
    _ code: DiagnosticCode, _ message: String, at location: SourceLocation, length: Int = 1
  ) {
    diagnostics.append(Diagnostic(code, message, at: location, length: length))
  }

  /// The values of a mapping by key; unknown keys and missing required keys are reported.
  public mutating func mapping(
    _ node: YAMLNode, what: String, keys: [String], required: [String] = []
  ) -> [String: YAMLNode]? {
    guard case .mapping(let pairs) = node.content else {
      report(.wrongType, "\(what) must be a mapping; found \(node.kindDescription)", at: node)
      return nil
    }
    var result: [String: YAMLNode] = [:]
    for pair in pairs {
      guard case .scalar(let key, _) = pair.key.content else {
        report(
          .wrongType, "keys must be plain names; found \(pair.key.kindDescription)", at: pair.key)
        continue
      }
      guard keys.contains(key) else {
        report(
          .unknownKey,
          "unknown key '\(key)' in \(what)\(Suggestion.hint(for: key, in: keys)); expected one of: \(keys.joined(separator: ", "))",
          at: pair.key)
        continue
      }
      result[key] = pair.value
    }
    for key in required where result[key] == nil {
      report(.missingKey, "\(what) has no '\(key)'; it is required", at: node.location)
    }
    return result
  }

  /// The items of a list; `nil` (or an empty value) is an empty list.
  public mutating func list(_ node: YAMLNode, what: String) -> [YAMLNode] {
    switch node.content {
    case .sequence(let items): return items
    case .scalar(let raw, .plain) where raw.isEmpty || raw == "~" || raw == "null": return []
    default:
      report(.wrongType, "\(what) must be a list; found \(node.kindDescription)", at: node)
      return []
    }
  }

  public mutating func string(_ node: YAMLNode, what: String) -> String? {
    guard case .scalar(let raw, _) = node.content else {
      report(.wrongType, "\(what) must be text; found \(node.kindDescription)", at: node)
      return nil
    }
    return raw
  }

  public mutating func bool(_ node: YAMLNode, what: String) -> Bool? {
    guard case .scalar(let raw, .plain) = node.content, raw == "true" || raw == "false" else {
      report(.wrongType, "\(what) must be true or false; found \(node.kindDescription)", at: node)
      return nil
    }
    return raw == "true"
  }

  /// A duration such as `11m`, `30s`, `2h`, `1d`.
  public mutating func duration(_ node: YAMLNode, what: String) -> Int? {
    guard case .scalar(let raw, _) = node.content, let seconds = Value.parseDuration(raw) else {
      report(
        .wrongType,
        "\(what) must be a duration such as 11m, 30s, 2h or 1d; found \(node.kindDescription)",
        at: node)
      return nil
    }
    return seconds
  }

  /// A scalar as a flow value: plain numbers and booleans keep their type, the rest is text.
  public mutating func value(_ node: YAMLNode, what: String) -> Value? {
    guard case .scalar(let raw, let style) = node.content else {
      report(.wrongType, "\(what) must be a single value; found \(node.kindDescription)", at: node)
      return nil
    }
    if style == .plain {
      if let number = Int(raw) { return .int(number) }
      if raw == "true" || raw == "false" { return .bool(raw == "true") }
    }
    return .string(raw)
  }
}
