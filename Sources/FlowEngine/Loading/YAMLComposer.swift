internal import CYaml

/// Builds a `YAMLNode` tree from libyaml's event stream (the libyaml that Yams ships).
///
/// It works event by event with an explicit stack, so nesting depth never becomes native stack
/// depth, and it counts nodes as aliases are expanded, so a "billion laughs" document is refused
/// after `maxNodes` instead of hanging. Duplicate keys are reported individually, each at the
/// duplicate, and do not stop the rest of the file from being checked.
struct YAMLComposer {
  let limits: LoadLimits

  struct Output {
    var root: YAMLNode?
    var diagnostics: [Diagnostic]
  }

  private struct Frame {
    var isMapping: Bool
    var location: SourceLocation
    var anchor: String?
    var items: [YAMLNode] = []
    var pairs: [YAMLNode.Pair] = []
    var pendingKey: YAMLNode?
    var skipValue = false
    /// Keys seen so far; scanned linearly while small, indexed once the mapping grows.
    var keys: [(text: String, location: SourceLocation)] = []
    var keyIndex: [String: SourceLocation]?

    func firstLocation(of key: String) -> SourceLocation? {
      if let keyIndex { return keyIndex[key] }
      return keys.first { $0.text == key }?.location
    }

    mutating func remember(_ key: String, at location: SourceLocation) {
      if keyIndex != nil {
        keyIndex?[key] = location
        return
      }
      keys.append((key, location))
      if keys.count > 16 {
        keyIndex = Dictionary(
          keys.map { ($0.text, $0.location) }, uniquingKeysWith: { first, _ in first })
        keys = []
      }
    }
    var size = 1
  }

  /// Composes the single document in `bytes`, which must be valid UTF-8.
  func compose(_ bytes: [UInt8]) -> Output {
    var diagnostics: [Diagnostic] = []
    var root: YAMLNode?
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) == 1 else {
      return Output(
        root: nil,
        diagnostics: [
          Diagnostic(
            .limitExceeded, "out of memory starting the YAML parser", at: .init(line: 1, column: 1))
        ])
    }
    defer { yaml_parser_delete(&parser) }

    bytes.withUnsafeBufferPointer { buffer in
      yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
      var stack: [Frame] = []
      var anchors: [String: (node: YAMLNode, size: Int)] = [:]
      var totalNodes = 0
      var documents = 0

      func fail(_ diagnostic: Diagnostic) {
        diagnostics.append(diagnostic)
      }

      /// Hands a finished node to its parent; false when composing must stop.
      func attach(_ node: YAMLNode, size: Int) -> Bool {
        totalNodes += size
        if totalNodes > limits.maxNodes {
          fail(
            Diagnostic(
              .limitExceeded,
              "the document expands to more than \(limits.maxNodes) YAML nodes (aliases count each time they are used)",
              at: node.location))
          return false
        }
        guard var top = stack.popLast() else {
          root = node
          return true
        }
        top.size += size
        if top.isMapping {
          if let key = top.pendingKey {
            if !top.skipValue { top.pairs.append(.init(key: key, value: node)) }
            top.pendingKey = nil
            top.skipValue = false
          } else {
            if case .scalar(let text, _) = node.content {
              if let first = top.firstLocation(of: text) {
                fail(
                  Diagnostic(
                    .duplicateKey, "duplicate key '\(text)' (first defined at line \(first.line))",
                    at: node.location, length: node.width))
                top.skipValue = true
              } else {
                top.remember(text, at: node.location)
              }
            }
            top.pendingKey = node
          }
        } else {
          top.items.append(node)
        }
        stack.append(top)
        return true
      }

      var event = yaml_event_t()
      parsing: while true {
        guard yaml_parser_parse(&parser, &event) == 1 else {
          fail(Self.syntaxDiagnostic(parser))
          break
        }
        defer { yaml_event_delete(&event) }
        let start = SourceLocation(
          line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        let end = SourceLocation(
          line: Int(event.end_mark.line) + 1, column: Int(event.end_mark.column) + 1)
        switch event.type {
        case YAML_STREAM_END_EVENT:
          break parsing
        case YAML_DOCUMENT_START_EVENT:
          documents += 1
          if documents > 1 {
            fail(
              Diagnostic(
                .yamlSyntax, "a flow file holds one YAML document; found a second one here",
                at: start))
            break parsing
          }
        case YAML_SCALAR_EVENT:
          let scalar = event.data.scalar
          if scalar.length > limits.maxScalarBytes {
            fail(
              Diagnostic(
                .limitExceeded,
                "a value of \(scalar.length) bytes is longer than the limit of \(limits.maxScalarBytes)",
                at: start))
            break parsing
          }
          let text = String(
            decoding: UnsafeBufferPointer(start: scalar.value, count: Int(scalar.length)),
            as: UTF8.self)
          let style: YAMLNode.ScalarStyle =
            switch scalar.style {
            case YAML_PLAIN_SCALAR_STYLE, YAML_ANY_SCALAR_STYLE: .plain
            case YAML_LITERAL_SCALAR_STYLE, YAML_FOLDED_SCALAR_STYLE: .block
            default: .quoted
            }
          let node = YAMLNode(
            .scalar(text, style), at: start, end: end, tag: Self.string(scalar.tag))
          if let anchor = Self.string(scalar.anchor) { anchors[anchor] = (node, 1) }
          if !attach(node, size: 1) { break parsing }
        case YAML_ALIAS_EVENT:
          let name = Self.string(event.data.alias.anchor) ?? ""
          guard let (node, size) = anchors[name] else {
            fail(
              Diagnostic(
                .yamlSyntax, "alias '*\(name)' refers to no anchor defined before it", at: start))
            break parsing
          }
          var copy = node
          copy.location = start
          copy.end = end
          if !attach(copy, size: size) { break parsing }
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
          if stack.count >= limits.maxDepth {
            fail(
              Diagnostic(
                .limitExceeded, "nesting is deeper than the limit of \(limits.maxDepth) levels",
                at: start))
            break parsing
          }
          let isMapping = event.type == YAML_MAPPING_START_EVENT
          let anchor =
            isMapping
            ? Self.string(event.data.mapping_start.anchor)
            : Self.string(event.data.sequence_start.anchor)
          stack.append(Frame(isMapping: isMapping, location: start, anchor: anchor))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
          guard let frame = stack.popLast() else { break parsing }
          let content: YAMLNode.Content =
            frame.isMapping ? .mapping(frame.pairs) : .sequence(frame.items)
          let node = YAMLNode(content, at: frame.location, end: end)
          if let anchor = frame.anchor { anchors[anchor] = (node, frame.size) }
          // The frame's own size was counted as its children arrived; count the container itself.
          totalNodes -= frame.size - 1
          if !attach(node, size: frame.size) { break parsing }
        default:
          continue
        }
      }
    }
    return Output(root: root, diagnostics: diagnostics)
  }

  private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
    guard let pointer else { return nil }
    return String(cString: pointer)
  }

  private static func syntaxDiagnostic(_ parser: yaml_parser_t) -> Diagnostic {
    let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
    let mark = parser.problem_mark
    var message = problem
    if let context = parser.context.map({ String(cString: $0) }) {
      message += " " + context
      if parser.context_mark.line != mark.line || parser.context_mark.column != mark.column {
        message +=
          " started at line \(parser.context_mark.line + 1), column \(parser.context_mark.column + 1)"
      }
    }
    if parser.error == YAML_MEMORY_ERROR { message = "out of memory while reading YAML" }
    if problem.contains("nesting level") {
      return Diagnostic(
        .limitExceeded, "nesting is deeper than libyaml's limit of 1000 levels",
        at: SourceLocation(line: Int(mark.line) + 1, column: Int(mark.column) + 1))
    }
    return Diagnostic(
      .yamlSyntax, message,
      at: SourceLocation(line: Int(mark.line) + 1, column: Int(mark.column) + 1))
  }
}
