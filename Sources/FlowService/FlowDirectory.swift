public import FlowEngine
internal import Foundation
public import Logging

/// The flows a service offers: every `*.yaml` file of a folder, by flow id, read again when a
/// file changes. New sessions get the newest text that validates; a file that does not is
/// refused with its diagnostics in the log, and its previous text keeps serving. Running
/// sessions are not affected either way: they run on the text they started on (the store
/// keeps it).
public actor FlowDirectory {
  public struct Entry: Sendable {
    public var path: String
    public var flow: CompiledFlow
    var modified: Date
  }

  public let folder: String
  let catalog: Catalog
  let logger: Logger
  private var entries: [String: Entry] = [:]
  /// Modification time of every file read, valid or not, so a file is read once per change.
  private var seen: [String: Date] = [:]

  public init(folder: String, catalog: Catalog, logger: Logger) {
    self.folder = folder
    self.catalog = catalog
    self.logger = logger
  }

  /// The flows now, after reading every file that changed since the last call.
  public func flows() -> [String: Entry] {
    refresh()
    return entries
  }

  public func flow(_ id: String) -> CompiledFlow? {
    flows()[id]?.flow
  }

  private func refresh() {
    let files =
      ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
      .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
    for file in files {
      let path = (folder as NSString).appendingPathComponent(file)
      let modified =
        (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
        ?? .distantPast
      if seen[path] == modified { continue }
      seen[path] = modified
      let document = FlowDocument.load(path: path, catalog: catalog)
      guard let flow = document.compiled() else {
        let rendered = DiagnosticRenderer().render(
          document.diagnostics, in: document.source)
        logger.error(
          "flow file refused; the previous text keeps serving",
          metadata: ["file": "\(path)", "diagnostics": "\(rendered)"])
        continue
      }
      if let other = entries[flow.id], other.path != path {
        logger.error(
          "two files declare one flow id; the first keeps serving",
          metadata: ["flow": "\(flow.id)", "file": "\(path)", "serving": "\(other.path)"])
        continue
      }
      let previous = entries[flow.id]?.flow.contentHash
      entries[flow.id] = Entry(path: path, flow: flow, modified: modified)
      if previous != flow.contentHash {
        logger.info(
          previous == nil ? "flow loaded" : "flow reloaded; new sessions get the new text",
          metadata: [
            "flow": "\(flow.id)", "version": "\(flow.version)", "hash": "\(flow.contentHash)",
          ])
      }
    }
  }
}
