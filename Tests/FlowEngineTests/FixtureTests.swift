import AccountSecurity
import FlowEngine
import Testing

/// Every invalid fixture prints exactly its `.expected` diagnostics; every valid one prints none.
@Suite("Fixtures")
struct FixtureTests {
  @Test("invalid flow prints its expected diagnostics", arguments: Fixtures.files(in: "invalid"))
  func invalidFlow(_ name: String) throws {
    try check(folder: "invalid", name: name)
  }

  @Test(
    "schema-level invalid flow prints its expected diagnostics",
    arguments: Fixtures.files(in: "invalid-schema"))
  func schemaInvalidFlow(_ name: String) throws {
    try check(folder: "invalid-schema", name: name)
  }

  private func check(folder: String, name: String) throws {
    let (document, output) = Fixtures.render(folder: folder, name: name)
    let expected = try #require(
      Fixtures.expected(folder: folder, name: name), "missing \(name).expected")
    #expect(output == expected)
    #expect(output.contains(": error[") || output.contains(": warning["))
    if document.hasErrors { #expect(document.definition == nil) }
  }

  @Test("valid flow has no diagnostics", arguments: Fixtures.files(in: "valid"))
  func validFlow(_ name: String) {
    let (document, output) = Fixtures.render(folder: "valid", name: name)
    #expect(output == "")
    #expect(document.definition != nil)
  }

  @Test("shipped flows validate cleanly", arguments: Fixtures.flowFiles)
  func shippedFlow(_ path: String) {
    let document = FlowDocument.load(path: path, catalog: AccountSecurityCatalog.catalog)
    #expect(
      document.diagnostics.isEmpty,
      "\(DiagnosticRenderer().render(document.diagnostics, in: document.source))")
    #expect(document.definition != nil)
  }

  @Test("there are enough invalid fixtures, covering every diagnostic code")
  func coverage() throws {
    var seen: Set<String> = []
    for folder in ["invalid", "invalid-schema"] {
      for name in Fixtures.files(in: folder) {
        let text = try #require(Fixtures.expected(folder: folder, name: name))
        for code in DiagnosticCode.allCases where text.contains("[\(code.rawValue)]") {
          seen.insert(code.rawValue)
        }
      }
    }
    let total = Fixtures.files(in: "invalid").count + Fixtures.files(in: "invalid-schema").count
    #expect(total >= 30)
    // A file that cannot be opened cannot be a fixture; the CLI tests cover it.
    let missing = DiagnosticCode.allCases.filter { $0 != .unreadableFile }.map(\.rawValue)
      .filter { !seen.contains($0) }
    #expect(missing.isEmpty, "no fixture shows \(missing)")
  }
}
