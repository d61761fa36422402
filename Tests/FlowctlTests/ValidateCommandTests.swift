import Foundation
import Testing

/// `flowctl validate` as a person and a tool see it: real binary, real files, exit codes.
@Suite("flowctl validate")
struct ValidateCommandTests {
  @Test func shippedFlowsAreValid() throws {
    let result = try Flowctl.run([
      "validate", "flows/update-own-2fa-phone.yaml", "flows/update-team-member-2fa-phone.yaml",
    ])
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    #expect(
      result.stdout == """
        flows/update-own-2fa-phone.yaml: ok
        flows/update-team-member-2fa-phone.yaml: ok
        2 files checked: 0 errors, 0 warnings

        """)
  }

  @Test func errorsPrintLocationLineAndCaretAndExitOne() throws {
    let file = try Flowctl.temporaryFile(
      """
      flow: typo
      version: 1
      title: Typo
      context: { actor: user, target: user }
      start: a
      states:
        a:
          always: [{ to: editng }]
        editing: { final: true, outcome: completed }

      """)
    let result = try Flowctl.run(["validate", "flow.yaml"], in: file.deletingLastPathComponent())
    #expect(result.status == 1)
    #expect(
      result.stdout == """
        flow.yaml:8:20: error[E013]: unknown state 'editng' (did you mean 'editing'?)
            always: [{ to: editng }]
                           ^~~~~~
        flow.yaml:9:3: warning[W001]: state 'editing' cannot be reached from the start state 'a'
          editing: { final: true, outcome: completed }
          ^~~~~~~
        1 file checked: 1 error, 1 warning

        """)
  }

  @Test func warningsPassUnlessStrict() throws {
    let file = try Flowctl.temporaryFile(
      """
      flow: warn
      version: 1
      title: Warn
      context: { actor: user, target: user }
      events: { cancel: {} }
      start: a
      states:
        a:
          always: [{ to: done }]
        done: { final: true, outcome: completed }

      """)
    let relaxed = try Flowctl.run(["validate", file.path])
    #expect(relaxed.status == 0)
    #expect(relaxed.stdout.contains("warning[W004]"))
    let strict = try Flowctl.run(["validate", "--strict", file.path])
    #expect(strict.status == 1)
  }

  @Test func jsonFormatIsMachineReadable() throws {
    let file = try Flowctl.temporaryFile("flow: x\nversion: one\n")
    let result = try Flowctl.run(["validate", "--format", "json", file.path])
    #expect(result.status == 1)
    let object = try #require(
      JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    let files = try #require(object["files"] as? [[String: Any]])
    let diagnostics = try #require(files.first?["diagnostics"] as? [[String: Any]])
    let wrongType = try #require(diagnostics.first { $0["code"] as? String == "E007" })
    #expect(wrongType["line"] as? Int == 2)
    #expect(wrongType["column"] as? Int == 10)
    #expect(wrongType["name"] as? String == "wrong-type")
    #expect(files.first?["valid"] as? Bool == false)
    #expect((object["errors"] as? Int ?? 0) >= 1)
  }

  @Test func missingFileIsAnErrorNotACrash() throws {
    let result = try Flowctl.run(["validate", "no/such/flow.yaml"])
    #expect(result.status == 1)
    #expect(result.stdout.hasPrefix("no/such/flow.yaml:1:1: error[E031]: cannot open the file"))
  }

  @Test func helpTeachesWithAnExample() throws {
    let result = try Flowctl.run(["validate", "--help"])
    #expect(result.status == 0)
    #expect(result.stdout.contains("flowctl validate flows/*.yaml"))
    #expect(result.stdout.contains("--strict"))
    #expect(result.stdout.contains("--format"))
  }

  @Test func everyInvalidFixtureFailsThroughTheBinary() throws {
    let folder = Flowctl.packageRoot.appendingPathComponent("Tests/Fixtures/invalid")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter {
      $0.hasSuffix(".yaml")
    }
    #expect(!names.isEmpty)
    for name in names.sorted() {
      let result = try Flowctl.run(["validate", "--quiet", name], in: folder)
      let expected = try String(
        contentsOf: folder.appendingPathComponent(
          name.replacingOccurrences(of: ".yaml", with: ".expected")), encoding: .utf8)
      #expect(result.stdout.hasPrefix(expected), "\(name)")
      #expect(result.status == (expected.contains(": error[") ? 1 : 0), "\(name)")
    }
  }
}
