/// Prints diagnostics the way compilers do: `path:line:col: error[E013]: message`, then the
/// offending line and a caret under the column.
public struct DiagnosticRenderer: Sendable {
  public var useColor: Bool

  public init(useColor: Bool = false) {
    self.useColor = useColor
  }

  public func render(_ diagnostic: Diagnostic, in source: SourceText) -> String {
    let severity = diagnostic.severity.rawValue
    let label = "\(severity)[\(diagnostic.code.rawValue)]"
    let coloredLabel =
      useColor ? paint(label, diagnostic.severity == .error ? "1;31" : "1;33") : label
    var out = "\(source.path):\(diagnostic.location): \(coloredLabel): \(diagnostic.message)\n"
    if let line = source.line(diagnostic.location.line), !line.allSatisfy(\.isWhitespace) {
      let shown = String(line.unicodeScalars.prefix(400))
      out += shown + "\n"
      out += caretLine(for: shown, column: diagnostic.location.column, length: diagnostic.length)
      out += "\n"
    }
    return out
  }

  public func render(_ diagnostics: [Diagnostic], in source: SourceText) -> String {
    diagnostics.map { render($0, in: source) }.joined()
  }

  /// Keeps tabs from the source line in the padding so the caret lines up in any terminal.
  private func caretLine(for line: String, column: Int, length: Int) -> String {
    let scalars = Array(line.unicodeScalars)
    var padding = ""
    for index in 0..<max(0, column - 1) {
      padding += index < scalars.count && scalars[index] == "\t" ? "\t" : " "
    }
    let available = max(1, min(length, scalars.count - (column - 1)))
    let marks = "^" + String(repeating: "~", count: available - 1)
    return padding + (useColor ? paint(marks, "1;32") : marks)
  }

  private func paint(_ text: String, _ code: String) -> String {
    "\u{1B}[\(code)m\(text)\u{1B}[0m"
  }
}
