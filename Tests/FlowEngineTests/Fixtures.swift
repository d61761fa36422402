import AccountSecurity
import FlowEngine
import Foundation

/// Finds the checked-in fixtures and flows relative to this file, so tests run from any directory.
enum Fixtures {
  static let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  static let root = packageRoot.appendingPathComponent("Tests/Fixtures")

  static func files(in folder: String, withExtension ext: String = "yaml") -> [String] {
    let directory = root.appendingPathComponent(folder)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasSuffix("." + ext) }.sorted()
  }

  static func path(_ folder: String, _ name: String) -> String {
    root.appendingPathComponent(folder).appendingPathComponent(name).path
  }

  /// Loads a fixture and renders its diagnostics with the bare file name as the path.
  static func render(folder: String, name: String) -> (FlowDocument, String) {
    let data = FileManager.default.contents(atPath: path(folder, name)) ?? Data()
    let document = FlowDocument.parse(
      bytes: [UInt8](data), path: name, catalog: AccountSecurityCatalog.catalog)
    let diagnostics = FlowChecker.validate(document)
    return (document, DiagnosticRenderer().render(diagnostics, in: document.source))
  }

  static func expected(folder: String, name: String) -> String? {
    let expectedPath = path(folder, String(name.dropLast(".yaml".count)) + ".expected")
    return FileManager.default.contents(atPath: expectedPath).map {
      String(decoding: $0, as: UTF8.self)
    }
  }

  static var flowFiles: [String] {
    let directory = packageRoot.appendingPathComponent("flows")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasSuffix(".yaml") }.sorted().map {
      directory.appendingPathComponent($0).path
    }
  }
}
