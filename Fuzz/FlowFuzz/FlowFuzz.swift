import AccountSecurity
import FlowEngine
import Foundation

/// libFuzzer entry points for the loader and validator, the guard expression parser, and the
/// world and events file readers. `FUZZ_TARGET` (flow, expression, world, events) picks one.
/// Built and run by scripts/fuzz.sh; never part of the normal build.
private let target = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? "flow"
private let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
  "flowfuzz-\(ProcessInfo.processInfo.processIdentifier).yaml"
).path

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  switch target {
  case "expression":
    let text = String(decoding: bytes, as: UTF8.self)
    if let expression = try? ExpressionParser.parse(text) {
      // What parses must print back and parse again to the same text.
      let printed = expression.description
      guard let again = try? ExpressionParser.parse(printed), again.description == printed else {
        fatalError("expression does not round-trip: \(printed)")
      }
    }
  case "world", "events":
    FileManager.default.createFile(atPath: scratch, contents: Data(bytes))
    if target == "world" {
      _ = WorldFile.load(path: scratch)
    } else {
      _ = EventScript.load(path: scratch)
    }
  default:
    let document = FlowDocument.parse(
      bytes: bytes, path: "fuzz.yaml", catalog: AccountSecurityCatalog.catalog)
    // Every diagnostic must render with its source line, and a valid flow must compile.
    _ = DiagnosticRenderer().render(document.diagnostics, in: document.source)
    if let flow = document.compiled() {
      _ = FlowGraph.dot(flow)
      _ = FlowGraph.mermaid(flow)
    }
  }
  return 0
}

// SwiftPM links an executable's entry point as `<module>_main`; hand control to libFuzzer's
// driver from there, with the entry point above as the function it calls for each input.
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
  _ argc: UnsafeMutablePointer<CInt>,
  _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("FlowFuzz_main")
public func fuzzMain(
  _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
  // Globals (the catalog, the parser tables) are made once, before fuzzing starts, so the leak
  // checker does not mistake them for leaks of the first input.
  _ = AccountSecurityCatalog.catalog
  let warmUp = Array("flow: x\n".utf8)
  _ = warmUp.withUnsafeBufferPointer { fuzz($0.baseAddress!, $0.count) }
  var count = argc
  var arguments = argv
  return runDriver(&count, &arguments) { data, size in fuzz(data, size) }
}
