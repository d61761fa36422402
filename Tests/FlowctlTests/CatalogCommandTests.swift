import Foundation
import Testing

/// Section 5 of docs/flow-language.md is `flowctl catalog`'s table, so the docs list every
/// argument and result of every action the validator accepts.
@Suite("flowctl catalog")
struct CatalogCommandTests {
  @Test("the docs' table of actions is the catalog's")
  func docsMatchTheCatalog() throws {
    let result = try Flowctl.run(["catalog"])
    #expect(result.status == 0, "\(result.stderr)")
    let docs = try String(
      contentsOf: Flowctl.packageRoot.appendingPathComponent("docs/flow-language.md"),
      encoding: .utf8)
    let begin = try #require(
      docs.range(of: "from the 2FA catalog: edit the catalog, not this table -->\n"))
    let end = try #require(
      docs.range(of: "<!-- end of generated table -->", range: begin.upperBound..<docs.endIndex))
    #expect(
      String(docs[begin.upperBound..<end.lowerBound]) == result.stdout,
      "docs/flow-language.md section 5 drifted from the catalog: paste the output of flowctl catalog between the markers"
    )
    // Every argument is listed, including the optional ones the docs once missed.
    #expect(
      result.stdout.contains(
        "`to` (destination: email or phone, optional): where the code must have been sent"))
    #expect(result.stdout.contains("`for` (codeOwner: actor, target, optional)"))
    #expect(result.stdout.contains("`{code}`, required, only here"), "the messages' table")
    #expect(result.stdout.contains("`expired` (bool)"))
  }
}
