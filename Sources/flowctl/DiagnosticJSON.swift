import FlowEngine

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The `--format json` shape of `flowctl validate`: one object with every file's diagnostics.
enum DiagnosticJSON {
  struct Report: Encodable {
    var files: [File]
    var errors: Int
    var warnings: Int
  }

  struct File: Encodable {
    var path: String
    var valid: Bool
    var diagnostics: [Entry]
  }

  struct Entry: Encodable {
    var code: String
    var name: String
    var severity: String
    var message: String
    var line: Int
    var column: Int
    var length: Int
  }

  static func render(_ documents: [CheckedFile], errors: Int, warnings: Int) -> String {
    let report = Report(
      files: documents.map { document in
        File(
          path: document.source.path, valid: !document.hasErrors,
          diagnostics: document.diagnostics.map {
            Entry(
              code: $0.code.rawValue, name: $0.code.name, severity: $0.severity.rawValue,
              message: $0.message,
              line: $0.location.line, column: $0.location.column, length: $0.length)
          })
      }, errors: errors, warnings: warnings)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(report) else { return "{}" }
    return String(decoding: data, as: UTF8.self)
  }
}
