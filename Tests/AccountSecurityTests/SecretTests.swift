import AccountSecurity
import FlowEngine
import Foundation
import Logging
import Testing

/// Verification codes never appear in clear outside the delivery channel.
@Suite("Secrets")
struct SecretTests {
  /// Collects every log line a runner writes.
  final class CapturedLogs: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) {
      lock.lock()
      lines.append(line)
      lock.unlock()
    }

    var all: [String] {
      lock.lock()
      defer { lock.unlock() }
      return lines
    }
  }

  struct CapturingHandler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
      sink.append("\(event.level) \(event.message) \(event.metadata ?? [:]) \(metadata)")
    }
  }

  @Test(
    "no issued code appears in traces, snapshots, audit entries, log lines or errors",
    arguments: Script.all)
  func codesStayInTheInbox(_ script: Script) throws {
    let logs = CapturedLogs()
    var run = try Harness(script.flow, actor: script.actor, target: script.target)
    let logger = Logger(label: "test") { _ in CapturingHandler(sink: logs) }
    let runner = FlowRunner(
      flow: run.flow, services: run.services, clock: run.clock, logger: logger)
    var snapshots: [String] = []
    var outputs: [String] = []
    for step in script.steps {
      let result: FlowRunner.StepResult
      switch step {
      case .event(let name, let payload): result = try runner.send(run.session, name, payload)
      case .codeFrom(let destination):
        result = try runner.send(
          run.session, "submitCode", ["code": .string(run.lastCode(to: destination) ?? "000000")])
      case .wait(let seconds):
        run.clock.advance(by: seconds)
        continue
      }
      run.session = result.session
      snapshots.append(result.session.encodedString)
      outputs.append("\(result.trace)")
      if let rejection = result.trace.rejection { outputs.append(rejection.description) }
    }
    // Wrong codes typed by a person are secrets too: try one and a malformed one.
    let wrong = try runner.send(run.session, "submitCode", ["code": .string("424242")])
    outputs.append("\(wrong.trace)")
    let malformed = try runner.send(run.session, "submitCode", ["code": .string("12ab")])
    outputs.append("\(malformed.trace)" + (malformed.trace.rejection?.description ?? ""))

    let audit = run.state.audit.map { "\($0)" }
    let haystacks = snapshots + outputs + audit + logs.all
    #expect(!logs.all.isEmpty)
    let secrets = run.issuedCodes + ["424242", "12ab"]
    for code in secrets {
      for text in haystacks {
        #expect(!text.contains(code), "'\(code)' leaked into: \(text.prefix(200))")
      }
    }
    // The codes really were delivered, where they belong.
    if script.steps.contains(where: { if case .codeFrom = $0 { true } else { false } }) {
      #expect(!run.issuedCodes.isEmpty)
    }
    #expect(
      run.state.codes.allSatisfy { code in
        !secrets.contains { String(decoding: code.hash, as: UTF8.self).contains($0) }
      })
  }

  @Test("phone numbers are masked in traces and the audit log")
  func phonesMasked() throws {
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    let trace = run.send("editPhone", ["phone": .string("+15550109999")])
    run.send("save")
    #expect("\(trace)".contains("+1******9999"))
    #expect(!"\(trace)".contains("+15550109999"))
    for entry in run.state.audit {
      #expect(!"\(entry)".contains("+15550109999"))
      #expect(!"\(entry)".contains("+15550100003"))
    }
  }
}
