internal import Foundation

/// Reads untrusted YAML bytes into a `YAMLNode` under the load limits: size, encoding, tabs,
/// syntax, nesting, alias expansion. Shared by every file format a person writes (flows, worlds,
/// event scripts, scenarios), so they all fail the same clear way.
public enum SourceReader {
  public struct Result: Sendable {
    public var source: SourceText
    public var root: YAMLNode?
    public var diagnostics: [Diagnostic]
    /// SHA-256 of the bytes as read, in hex (empty when nothing could be read).
    public var contentHash: String = ""
    /// The bytes as read (the text a store keeps for sessions pinned to it).
    public var bytes: [UInt8] = []
  }

  /// Reads the file at `path`; an unreadable file is reported as a diagnostic at 1:1.
  public static func read(path: String, limits: LoadLimits = .standard) -> Result {
    let origin = SourceLocation(line: 1, column: 1)
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    guard exists, !isDirectory.boolValue, let handle = FileHandle(forReadingAtPath: path) else {
      return Result(
        source: SourceText(path: path, text: ""), root: nil,
        diagnostics: [
          Diagnostic(
            .unreadableFile, "cannot open the file (missing, a directory, or not readable)",
            at: origin)
        ])
    }
    defer { try? handle.close() }
    // Read one byte past the limit so an oversized file is refused without reading all of it.
    // `parse` refuses it by size.
    let data = (try? handle.read(upToCount: limits.maxFileBytes + 1)) ?? Data()
    return parse(bytes: [UInt8](data), path: path, limits: limits)
  }

  /// Reads YAML from memory, as if it came from a file at `path`.
  public static func parse(bytes input: [UInt8], path: String, limits: LoadLimits = .standard)
    -> Result
  {
    let origin = SourceLocation(line: 1, column: 1)
    var bytes = input
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
    if bytes.count > limits.maxFileBytes {
      return Result(
        source: SourceText(path: path, text: ""), root: nil,
        diagnostics: [
          Diagnostic(
            .limitExceeded, "the file is larger than the limit of \(limits.maxFileBytes) bytes",
            at: origin)
        ])
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
      let (location, validPrefix) = firstInvalidUTF8(bytes)
      return Result(
        source: SourceText(path: path, text: validPrefix), root: nil,
        diagnostics: [
          Diagnostic(
            .invalidUTF8, "the file is not valid UTF-8 (save it as UTF-8 text)", at: location)
        ])
    }
    let source = SourceText(path: path, text: text)
    if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
      return Result(source: source, root: nil, diagnostics: [])
    }
    let contentHash = FlowCompiler.hash(input)
    let output = YAMLComposer(limits: limits).compose(bytes)
    var diagnostics = output.diagnostics
    // A tab in the indentation is the usual cause of a syntax error on its line (or the next,
    // where libyaml notices); a tab elsewhere, such as inside text, is harmless and not blamed.
    if let syntax = diagnostics.firstIndex(where: { $0.code == .yamlSyntax }),
      let tab = indentationTab(
        in: source, near: diagnostics[syntax].location.line,
        anywhereBefore: diagnostics[syntax].message.contains("tab"))
    {
      diagnostics[syntax] = Diagnostic(
        .tabIndentation, "a tab is used for indentation; YAML allows only spaces there", at: tab)
    }
    return Result(
      source: source, root: diagnostics.hasErrors && output.root == nil ? nil : output.root,
      diagnostics: diagnostics, contentHash: contentHash, bytes: input)
  }

  private static func indentationTab(
    in source: SourceText, near errorLine: Int, anywhereBefore: Bool
  )
    -> SourceLocation?
  {
    let last = max(1, min(errorLine, source.lineCount))
    let first = anywhereBefore ? 1 : max(1, last - 1)
    for number in first...last {
      guard let line = source.line(number) else { break }
      var column = 1
      for scalar in line.unicodeScalars {
        if scalar == "\t" { return SourceLocation(line: number, column: column) }
        if scalar != " " { break }
        column += 1
      }
    }
    return nil
  }

  /// Where the first malformed byte sits, and the text before it (to quote the line).
  private static func firstInvalidUTF8(_ bytes: [UInt8]) -> (SourceLocation, String) {
    var iterator = bytes.makeIterator()
    var decoder = UTF8()
    var line = 1
    var column = 1
    var prefix = ""
    while true {
      switch decoder.decode(&iterator) {
      case .scalarValue(let scalar):
        prefix.unicodeScalars.append(scalar)
        if scalar == "\n" {
          line += 1
          column = 1
        } else {
          column += 1
        }
      case .emptyInput, .error:
        return (SourceLocation(line: line, column: column), prefix)
      }
    }
  }
}
