import AccountSecurity
import ArgumentParser
import FlowEngine

/// `flowctl validate`: check flow files against the language and the 2FA catalog.
struct ValidateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "validate",
    abstract: "Check flow files and print every problem with its file:line:col.",
    discussion: """
      Each problem is printed like a compiler error, followed by the offending line and a caret:

        flows/own.yaml:12:11: error[E013]: unknown state 'edting' (did you mean 'editing'?)
              save: { to: edting }
                          ^~~~~~

      Codes are explained in docs/flow-language.md. Exit status: 0 when no file has an error
      (warnings allowed unless --strict), 1 when any file has an error.

      Examples:
        flowctl validate flows/*.yaml
        flowctl validate --strict --format json flows/update-own-2fa-phone.yaml
      """
  )

  enum Format: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
  }

  @Argument(help: "Flow files to check.", completion: .file(extensions: ["yaml", "yml"]))
  var files: [String]

  @Option(help: "Output format: text for people, json for tools.")
  var format: Format = .text

  @Flag(help: "Fail (exit 1) on warnings too.")
  var strict = false

  @Flag(help: "Print only the summary line and the problems, no per-file 'ok' lines.")
  var quiet = false

  @Flag(
    help:
      "Only read and validate the files; do not prove their checks (flowctl check does, with counterexamples)."
  )
  var noChecks = false

  func run() throws {
    // Each flow is loaded, validated and, when valid, its checks are proven over every path.
    let documents = files.map { path -> CheckedFile in
      let document = FlowDocument.load(path: path, catalog: AccountSecurityCatalog.catalog)
      let diagnostics = noChecks ? document.diagnostics : FlowChecker.validate(document)
      return CheckedFile(source: document.source, diagnostics: diagnostics)
    }
    let errors = documents.reduce(0) { $0 + $1.diagnostics.filter { $0.severity == .error }.count }
    let warnings = documents.reduce(0) {
      $0 + $1.diagnostics.filter { $0.severity == .warning }.count
    }
    switch format {
    case .text:
      let renderer = DiagnosticRenderer(
        useColor: Terminal.colorEnabled(for: Terminal.standardOutput))
      var output = ""
      for document in documents {
        output += renderer.render(document.diagnostics, in: document.source)
        if !quiet && document.diagnostics.isEmpty {
          output += "\(document.source.path): ok\n"
        }
      }
      output +=
        "\(files.count) file\(files.count == 1 ? "" : "s") checked: \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")\n"
      print(output, terminator: "")
    case .json:
      print(DiagnosticJSON.render(documents, errors: errors, warnings: warnings))
    }
    if errors > 0 || (strict && warnings > 0) {
      throw ExitCode(1)
    }
  }
}

/// A file's source and everything found in it.
struct CheckedFile {
  var source: SourceText
  var diagnostics: [Diagnostic]

  var hasErrors: Bool { diagnostics.hasErrors }
}
