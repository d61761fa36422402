/// A YAML node as the loader needs it: content plus the position of its first character.
///
/// Our own tree, rather than Yams' `Node`, because the composer that builds it enforces the
/// load limits and reports every duplicate key, which the stock composer does not.
public struct YAMLNode: Sendable {
  public enum ScalarStyle: Sendable, Hashable {
    /// Unquoted: may be a number, a boolean or null.
    case plain
    /// Single- or double-quoted: always a string.
    case quoted
    /// Literal (`|`) or folded (`>`) block.
    case block
  }

  public struct Pair: Sendable {
    public var key: YAMLNode
    public var value: YAMLNode
  }

  public enum Content: Sendable {
    case scalar(String, ScalarStyle)
    case mapping([Pair])
    case sequence([YAMLNode])
  }

  public var content: Content
  public var location: SourceLocation
  /// Where the node ends; on the same line for one-line scalars, which sizes caret underlines.
  public var end: SourceLocation
  /// An explicit YAML tag such as `!isAdmin` (which is how YAML reads a condition written with
  /// `!`); nil for the usual untagged node.
  public var tag: String?

  public init(
    _ content: Content, at location: SourceLocation, end: SourceLocation, tag: String? = nil
  ) {
    self.content = content
    self.location = location
    self.end = end
    self.tag = tag
  }

  /// Width of the node on its first line, for underlining it in a diagnostic.
  public var width: Int {
    end.line == location.line ? max(1, end.column - location.column) : 1
  }

  /// What a person would call this kind of node in an error message.
  public var kindDescription: String {
    switch content {
    case .mapping: "a mapping"
    case .sequence: "a list"
    case .scalar(let text, let style):
      switch style {
      case .plain where text.isEmpty || text == "~" || text == "null": "nothing (null)"
      case .plain where Int(text) != nil: "the number \(text)"
      case .plain where text == "true" || text == "false": "the boolean \(text)"
      default: "the text \"\(text.count > 40 ? String(text.prefix(40)) + "…" : text)\""
      }
    }
  }
}
