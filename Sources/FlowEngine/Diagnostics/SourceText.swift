/// The text of a source file, with line starts indexed once, so diagnostics can quote the
/// offending line without splitting the whole file into strings.
public struct SourceText: Sendable {
  /// The path as the user gave it; printed in front of every diagnostic.
  public let path: String
  public let text: String
  /// UTF-8 offset where each line starts.
  private let lineStarts: [Int]

  public init(path: String, text: String) {
    self.path = path
    var text = text
    self.lineStarts = text.withUTF8 { bytes in
      var starts = [0]
      for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
        starts.append(index + 1)
      }
      return starts
    }
    self.text = text
  }

  public var lineCount: Int { lineStarts.count }

  /// The line with the given 1-based number (without its line break), or nil past the end.
  public func line(_ number: Int) -> Substring? {
    guard number >= 1, number <= lineStarts.count else { return nil }
    let utf8 = text.utf8
    let start = utf8.index(utf8.startIndex, offsetBy: lineStarts[number - 1])
    var end =
      number < lineStarts.count
      ? utf8.index(utf8.startIndex, offsetBy: lineStarts[number] - 1) : utf8.endIndex
    if end > start, utf8[utf8.index(before: end)] == UInt8(ascii: "\r") {
      end = utf8.index(before: end)
    }
    return text[start..<end]
  }
}
