/// A scripted dry run: events with payloads, and waits that move the simulated clock.
///
/// ```yaml
/// - disable2FA
/// - submitCode: { code: $received }
/// - wait: 11m
/// - editPhone: { phone: "+15550109999" }
/// ```
public struct EventScript: Sendable {
  public enum Item: Sendable {
    case event(name: String, payload: [String: Value], location: SourceLocation)
    case wait(seconds: Int, location: SourceLocation)
  }

  public var items: [Item]
  public var source: SourceText

  /// The payload value standing for "the code the person just received".
  public static let receivedCode = "$received"

  /// Reads an events file; the diagnostics say what is wrong and where.
  public static func load(path: String, limits: LoadLimits = .standard) -> (
    EventScript?, [Diagnostic], SourceText
  ) {
    let read = SourceReader.read(path: path, limits: limits)
    if read.diagnostics.hasErrors { return (nil, read.diagnostics, read.source) }
    guard let root = read.root else {
      return (
        nil,
        [
          Diagnostic(
            .wrongType, "the events file is empty; list the events to send",
            at: .init(line: 1, column: 1))
        ],
        read.source
      )
    }
    var reader = YAMLReader()
    var items: [Item] = []
    for node in reader.list(root, what: "an events file") {
      switch node.content {
      case .scalar(let name, _):
        guard FlowLoader.isName(name) else {
          reader.report(.invalidName, "'\(name)' is not an event name", at: node)
          continue
        }
        items.append(.event(name: name, payload: [:], location: node.location))
      case .mapping(let pairs) where pairs.count == 1:
        guard case .scalar(let key, _) = pairs[0].key.content else {
          reader.report(
            .wrongType, "an item is an event name, {event: {payload}} or {wait: 11m}", at: node)
          continue
        }
        let value = pairs[0].value
        if key == "wait" {
          if let seconds = reader.duration(value, what: "wait") {
            items.append(.wait(seconds: seconds, location: node.location))
          }
          continue
        }
        guard FlowLoader.isName(key) else {
          reader.report(.invalidName, "'\(key)' is not an event name", at: pairs[0].key)
          continue
        }
        var payload: [String: Value] = [:]
        if case .scalar(let raw, .plain) = value.content, raw.isEmpty || raw == "~" || raw == "null"
        {
          // No payload.
        } else if case .mapping(let fields) = value.content {
          for field in fields {
            guard let fieldName = reader.string(field.key, what: "a payload field name") else {
              continue
            }
            if let fieldValue = reader.value(field.value, what: "payload field '\(fieldName)'") {
              payload[fieldName] = fieldValue
            }
          }
        } else {
          reader.report(
            .wrongType,
            "the payload of '\(key)' must be a mapping such as { phone: \"+15550100001\" }; found \(value.kindDescription)",
            at: value)
          continue
        }
        items.append(.event(name: key, payload: payload, location: node.location))
      default:
        reader.report(
          .wrongType,
          "an item is an event name, {event: {payload}} or {wait: 11m}; found \(node.kindDescription)",
          at: node)
      }
    }
    let diagnostics = read.diagnostics + reader.diagnostics
    return (
      diagnostics.hasErrors ? nil : EventScript(items: items, source: read.source), diagnostics,
      read.source
    )
  }

}
