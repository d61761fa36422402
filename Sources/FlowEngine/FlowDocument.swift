/// A flow file read, loaded and validated: the entry point for hosts, `flowctl` and tests.
///
/// Loading never throws: every problem is a diagnostic, and `definition` is non-nil only when
/// there is no error, so a host cannot run a flow that failed validation.
public struct FlowDocument: Sendable {
  public let source: SourceText
  /// All problems, sorted by position.
  public let diagnostics: [Diagnostic]
  /// The validated flow with every expression parsed; nil when any diagnostic is an error.
  public let definition: FlowDefinition?
  /// The catalog it was checked against, which its compiled form and sessions use.
  public let catalog: Catalog
  /// SHA-256 of the file's bytes, in hex.
  public let contentHash: String
  /// The file's bytes, exactly as read.
  public let bytes: [UInt8]

  /// The flow compiled for running; nil when the document has errors.
  public func compiled() -> CompiledFlow? {
    FlowCompiler.compile(self)
  }

  /// Reads, loads and validates the flow file at `path`.
  public static func load(path: String, catalog: Catalog, limits: LoadLimits = .standard)
    -> FlowDocument
  {
    finish(SourceReader.read(path: path, limits: limits), catalog: catalog, limits: limits)
  }

  /// Loads and validates flow text held in memory, as if read from `path`.
  public static func parse(
    _ text: String, path: String = "<memory>", catalog: Catalog, limits: LoadLimits = .standard
  ) -> FlowDocument {
    parse(bytes: Array(text.utf8), path: path, catalog: catalog, limits: limits)
  }

  /// Loads and validates raw bytes (which need not be valid UTF-8), as if read from `path`.
  public static func parse(
    bytes: [UInt8], path: String = "<memory>", catalog: Catalog, limits: LoadLimits = .standard
  ) -> FlowDocument {
    finish(
      SourceReader.parse(bytes: bytes, path: path, limits: limits), catalog: catalog, limits: limits
    )
  }

  private static func finish(_ read: SourceReader.Result, catalog: Catalog, limits: LoadLimits)
    -> FlowDocument
  {
    var diagnostics = read.diagnostics
    var definition: FlowDefinition?
    // Syntax and limit errors leave nothing trustworthy to check further.
    let fatal = diagnostics.contains { $0.code != .duplicateKey && $0.severity == .error }
    if !fatal {
      var loader = FlowLoader()
      let loaded = loader.load(read.root)
      let structural = diagnostics.hasErrors || loader.diagnostics.hasErrors
      diagnostics += loader.diagnostics
      if let loaded {
        let (validated, found) = FlowValidator(catalog: catalog, limits: limits).validate(loaded)
        if structural {
          // What the loader could not read is missing from the definition, so checks of the
          // machine's shape would only echo it; names and types are still worth reporting.
          diagnostics += found.filter { !Self.echoesMissingParts.contains($0.code) }
        } else {
          diagnostics += found
          definition = validated
        }
      }
    }
    let sorted = diagnostics.sortedByLocation()
    return FlowDocument(
      source: read.source, diagnostics: sorted, definition: sorted.hasErrors ? nil : definition,
      catalog: catalog, contentHash: read.contentHash, bytes: read.bytes)
  }

  public var hasErrors: Bool { diagnostics.hasErrors }

  /// Checks that only echo a part the loader already reported as unreadable.
  static let echoesMissingParts: Set<DiagnosticCode> = [
    .unknownStartState, .deadEnd, .missingOutcome, .mayGetStuck, .invalidValue, .unreachableState,
    .shadowedTransition, .unusedGuard, .unusedEvent,
  ]
}
