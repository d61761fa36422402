import AccountSecurity
import ArgumentParser
import FlowEngine

/// Loading the files a command is given, reporting problems the way `validate` does.
enum FlowInput {
  /// Prints diagnostics to standard error and fails with exit status 1 when any is an error.
  static func check(_ diagnostics: [Diagnostic], in source: SourceText) throws {
    guard !diagnostics.isEmpty else { return }
    let renderer = DiagnosticRenderer(useColor: Terminal.colorEnabled(for: Terminal.standardError))
    Terminal.writeError(renderer.render(diagnostics, in: source))
    if diagnostics.hasErrors { throw ExitCode(1) }
  }

  static func flow(_ path: String) throws -> CompiledFlow {
    let document = FlowDocument.load(path: path, catalog: AccountSecurityCatalog.catalog)
    try check(document.diagnostics, in: document.source)
    guard let flow = document.compiled() else { throw ExitCode(1) }
    return flow
  }

  static func world(_ path: String) throws -> AccountSecurityState {
    let loaded = WorldFile.load(path: path)
    try check(loaded.diagnostics, in: loaded.source)
    guard let state = loaded.state else { throw ExitCode(1) }
    return state
  }

  static func events(_ path: String) throws -> EventScript {
    let (script, diagnostics, source) = EventScript.load(path: path)
    try check(diagnostics, in: source)
    guard let script else { throw ExitCode(1) }
    return script
  }
}
