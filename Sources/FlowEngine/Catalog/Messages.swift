/// The messages a host's services send (a verification code, a notice that a number changed),
/// the channels they go by, and the wording used when a flow gives none.
///
/// A flow words them its own way in `messages:`; the validator checks every template against
/// this: known message, variant and channel, known placeholders, secrets only where allowed.
public struct MessageCatalog: Sendable {
  public var signatures: [MessageSignature]
  public var channels: [MessageChannel]
  /// Finds what a template's text must never contain (a full phone number), by offset into
  /// the text; empty when the text is fine.
  public var lint: @Sendable (String) -> [TextProblem]

  public init(
    signatures: [MessageSignature] = [], channels: [MessageChannel] = [],
    lint: @escaping @Sendable (String) -> [TextProblem] = { _ in [] }
  ) {
    self.signatures = signatures
    self.channels = channels
    self.lint = lint
  }

  public func signature(named name: String) -> MessageSignature? {
    signatures.first { $0.name == name }
  }

  public func channel(named name: String) -> MessageChannel? {
    channels.first { $0.name == name }
  }

  /// Every placeholder some message may hold as a secret (`code`): outside those messages it
  /// is refused with its own error, not as an unknown name.
  public var secretPlaceholders: Set<String> {
    Set(signatures.flatMap { $0.placeholders.filter(\.isSecret).map(\.name) })
  }
}

/// Something a template's text must not hold, found at an offset (in Unicode scalars).
public struct TextProblem: Sendable, Hashable {
  public var offset: Int
  public var length: Int
  public var message: String

  public init(offset: Int, length: Int, message: String) {
    self.offset = offset
    self.length = length
    self.message = message
  }
}

/// A channel a message goes by: an SMS is one text; an email has a subject and a body.
public struct MessageChannel: Sendable, Hashable {
  public var name: String
  public var hasSubject: Bool

  public init(_ name: String, hasSubject: Bool) {
    self.name = name
    self.hasSubject = hasSubject
  }
}

/// One kind of message: its placeholders, the variants it may be worded for separately (a
/// code's purposes), and its default wording per channel.
public struct MessageSignature: Sendable, Hashable {
  public struct Placeholder: Sendable, Hashable {
    public var name: String
    public var summary: String
    /// Only this kind of message may carry it (a code): the validator refuses it elsewhere.
    public var isSecret: Bool

    public init(_ name: String, summary: String, isSecret: Bool = false) {
      self.name = name
      self.summary = summary
      self.isSecret = isSecret
    }
  }

  public var name: String
  public var summary: String
  /// Names a template may be given for besides the message's own (`step-up`).
  public var variants: [String]
  public var placeholders: [Placeholder]
  /// Placeholders every body of this message must use (`{code}` in a code message).
  public var required: [String]
  /// The wording used when the flow gives none, by channel name.
  public var defaults: [String: MessageTemplate]

  public init(
    _ name: String, summary: String, variants: [String] = [], placeholders: [Placeholder],
    required: [String] = [], defaults: [String: MessageTemplate]
  ) {
    self.name = name
    self.summary = summary
    self.variants = variants
    self.placeholders = placeholders
    self.required = required
    self.defaults = defaults
  }
}

/// The wording of one message on one channel: a subject (email only) and a body, with
/// `{placeholders}`.
public struct MessageTemplate: Sendable, Hashable {
  public var subject: String?
  public var body: String

  public init(subject: String? = nil, body: String) {
    self.subject = subject
    self.body = body
  }

  /// The template with every `{name}` replaced by `values[name]` (unknown names stay as
  /// written; the validator refuses them in flows).
  public func render(_ values: [String: String]) -> MessageTemplate {
    MessageTemplate(
      subject: subject.map { Self.fill($0, values) }, body: Self.fill(body, values))
  }

  static func fill(_ text: String, _ values: [String: String]) -> String {
    var out = ""
    var rest = Substring(text)
    while let open = rest.firstIndex(of: "{") {
      out += rest[..<open]
      guard let close = rest[open...].firstIndex(of: "}") else { break }
      let name = String(rest[rest.index(after: open)..<close])
      if let value = values[name] {
        out += value
      } else {
        out += rest[open...close]
      }
      rest = rest[rest.index(after: close)...]
    }
    return out + rest
  }

  /// The placeholders of `text` with their offsets (in Unicode scalars), and the offsets of
  /// braces that open or close no placeholder.
  static func scan(_ text: String) -> (names: [(String, Int)], stray: [Int]) {
    var names: [(String, Int)] = []
    var stray: [Int] = []
    let scalars = Array(text.unicodeScalars)
    var index = 0
    while index < scalars.count {
      if scalars[index] == "}" {
        stray.append(index)
      } else if scalars[index] == "{" {
        var end = index + 1
        while end < scalars.count, scalars[end] != "}", scalars[end] != "{" { end += 1 }
        guard end < scalars.count, scalars[end] == "}" else {
          stray.append(index)
          index += 1
          continue
        }
        var name = String.UnicodeScalarView()
        name.append(contentsOf: scalars[(index + 1)..<end])
        names.append((String(name), index))
        index = end
      }
      index += 1
    }
    return (names, stray)
  }
}

/// A flow's templates merged over the catalog's defaults, ready for the services: the flow's
/// wording for a variant, else its wording for the message, else the catalog's.
public struct FlowMessages: Sendable {
  var templates: [String: MessageTemplate]

  public init(templates: [String: MessageTemplate] = [:]) {
    self.templates = templates
  }

  static func key(_ message: String, _ variant: String?, _ channel: String) -> String {
    "\(message)|\(variant ?? "")|\(channel)"
  }

  /// Builds the table from a validated flow's `messages:` and the catalog's defaults.
  public init(definitions: [MessageDefinition], catalog: MessageCatalog) {
    var table: [String: MessageTemplate] = [:]
    for signature in catalog.signatures {
      for (channel, template) in signature.defaults {
        table[Self.key(signature.name, nil, channel)] = template
      }
    }
    for definition in definitions {
      table[Self.key(definition.name.value, definition.variant?.value, definition.channel.value)] =
        MessageTemplate(subject: definition.subject?.text, body: definition.body.text)
    }
    templates = table
  }

  /// The template for a message on a channel, worded for `variant` when the flow has one.
  public func template(_ message: String, variant: String? = nil, channel: String)
    -> MessageTemplate?
  {
    if let variant, let specific = templates[Self.key(message, variant, channel)] {
      return specific
    }
    return templates[Self.key(message, nil, channel)]
  }
}
