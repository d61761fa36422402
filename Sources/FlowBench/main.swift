import AccountSecurity
import FlowEngine
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Benchmarks for loading and validation (run in release: `swift run -c release flow-bench`).
///
/// Reports, for generated flows of growing size, the median wall time of reading + composing +
/// loading + validating, and the time per state, so growth can be read off as linear or not.
/// Then times the refusal of hostile inputs, which must stay well under a second.

func generatedFlow(states count: Int) -> String {
  var text = """
    flow: generated
    version: 1
    title: Generated flow with \(count) states
    context:
      actor: user
      target: user
    settings:
      maxAttempts: 5
    guards:
      isAdmin: actor.role == "admin"
      isSelf: actor.id == target.id
      allowed: isAdmin and not isSelf
    events:
      next: {}
      back: {}
      editPhone: { phone: phone }
      cancel: {}
    start: s0
    states:

    """
  for index in 0..<count {
    let next = index + 1 < count ? "s\(index + 1)" : "done"
    let previous = index > 0 ? "s\(index - 1)" : "s0"
    if index % 10 == 5 {
      text += """
          s\(index):
            description: Decides without an event.
            always:
              - to: \(next)
                when: allowed or actor.twoFactor.enabled
              - to: denied

        """
    } else {
      text += """
          s\(index):
            on:
              next:
                - to: \(next)
                  when: isAdmin and actor.account == target.account
                  do: [recordAudit: { event: access-denied }]
                - to: denied
              back: \(previous)
              editPhone: { to: \(next), do: [stagePhone: { phone: event.phone }] }
              cancel: cancelled

        """
    }
  }
  text += """
      done: { final: true, outcome: completed }
      denied: { final: true, outcome: denied }
      cancelled: { final: true, outcome: cancelled }

    """
  return text
}

func now() -> ContinuousClock.Instant { ContinuousClock.now }

func seconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func measure(repeats: Int, _ body: () -> Void) -> Double {
  var times: [Double] = []
  for _ in 0..<repeats {
    let start = now()
    body()
    times.append(seconds(now() - start))
  }
  return median(times)
}

func format(_ value: Double) -> String {
  let milliseconds = (value * 10_000).rounded() / 10
  return "\(milliseconds) ms"
}

/// A flow of `count` states whose transitions branch on guards over the actor and target, with
/// eventless decisions, for the path explorer.
func branchingFlow(states count: Int) -> String {
  var text = """
    flow: branching
    version: 1
    title: Generated branching flow with \(count) states
    context:
      actor: user
      target: user
    guards:
      isAdmin: actor.role == "admin"
      isSelf: actor.id == target.id
      twoFactorOn: target.twoFactor.enabled
    events:
      next: {}
      skip: {}
      cancel: {}
    start: s0
    checks:
      - name: only admins reach the end
        reaches: done
        when: isAdmin
      - name: a final state can always be reached
        finalReachable: true
    states:

    """
  for index in 0..<count {
    let next = index + 1 < count ? "s\(index + 1)" : "done"
    let skip = index + 2 < count ? "s\(index + 2)" : "done"
    if index % 10 == 9 {
      text += """
          s\(index):
            always:
              - to: \(next)
                when: twoFactorOn or isSelf
              - to: \(skip)

        """
    } else {
      text += """
          s\(index):
            on:
              next:
                - to: \(next)
                  when: isAdmin
                - to: denied
              skip: { to: \(skip), when: isAdmin and not isSelf }
              cancel: cancelled

        """
    }
  }
  text += """
      done: { final: true, outcome: completed }
      denied: { final: true, outcome: denied }
      cancelled: { final: true, outcome: cancelled }

    """
  return text
}

if CommandLine.arguments.dropFirst().first == "store-sqlite" {
  let folder = FileManager.default.temporaryDirectory
  _ = try await StoreBench.durableSteps(
    CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 300, synchronous: .normal,
    in: folder)
  exit(0)
}

if CommandLine.arguments.dropFirst().first == "store-own" {
  try StoreBench.own(CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 10_000)
  exit(0)
}

if CommandLine.arguments.dropFirst().first == "store-cycle" {
  try StoreBench.cycle(CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 100_000)
  exit(0)
}

if CommandLine.arguments.dropFirst().first == "http" {
  do {
    try await HTTPLoad.run(Array(CommandLine.arguments.dropFirst(2)))
  } catch {
    print("error: \(error)")
    exit(1)
  }
  exit(0)
}

if CommandLine.arguments.dropFirst().first == "postgres" {
  do {
    try await PostgresBench.run(Array(CommandLine.arguments.dropFirst(2)))
  } catch {
    print("error: \(error)")
    exit(1)
  }
  exit(0)
}

if CommandLine.arguments.dropFirst().first == "postgres-worker" {
  do {
    try await PostgresBench.worker(Array(CommandLine.arguments.dropFirst(2)))
  } catch {
    print("error: \(error)")
    exit(1)
  }
  exit(0)
}

if CommandLine.arguments.dropFirst().first == "timers" {
  do {
    try await TimerBench.run(CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 10_000)
  } catch {
    print("error: \(error)")
    exit(1)
  }
  exit(0)
}

if CommandLine.arguments.dropFirst().first == "store" {
  do {
    try await StoreBench.run()
  } catch {
    print("error: \(error)")
    exit(1)
  }
  exit(0)
}

if CommandLine.arguments.dropFirst().first == "check" {
  print("flowctl check: exhaustive exploration of every actor/target kind (median of runs)")
  let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  var cases: [(String, CompiledFlow)] = []
  for name in ["flows/update-own-2fa-phone.yaml", "flows/update-team-member-2fa-phone.yaml"] {
    let document = FlowDocument.load(
      path: root.appendingPathComponent(name).path, catalog: AccountSecurityCatalog.catalog)
    cases.append((name, document.compiled()!))
  }
  let generated = FlowDocument.parse(
    branchingFlow(states: 1_000), catalog: AccountSecurityCatalog.catalog)
  guard let branching = generated.compiled() else {
    print(DiagnosticRenderer().render(generated.diagnostics, in: generated.source))
    exit(1)
  }
  cases.append(("generated, 1,000 states", branching))
  for (name, flow) in cases {
    var report: FlowChecker.Report?
    let time = measure(repeats: name.hasPrefix("generated") ? 3 : 9) {
      report = FlowChecker.run(flow)
    }
    let result = report!
    let passed = result.results.filter(\.passed).count
    print(
      name.padding(toLength: 42, withPad: " ", startingAt: 0)
        + format(time).padding(toLength: 12, withPad: " ", startingAt: 0)
        + "\(result.starts) starts, \(result.nodes) states, \(passed)/\(result.results.count) checks hold"
    )
  }
  exit(0)
}

let arguments = CommandLine.arguments.dropFirst()
let sizes =
  arguments.compactMap { Int($0) }.isEmpty
  ? [1_000, 10_000, 100_000] : arguments.compactMap { Int($0) }

print("load + validate (median of runs; LoadLimits.large)")
print("states     bytes        time         per state")
var previous: (states: Int, time: Double)?
for size in sizes {
  let text = generatedFlow(states: size)
  let bytes = Array(text.utf8)
  var diagnostics = 0
  let repeats = size >= 100_000 ? 3 : 7
  let time = measure(repeats: repeats) {
    let document = FlowDocument.parse(
      bytes: bytes, path: "generated.yaml", catalog: AccountSecurityCatalog.catalog, limits: .large)
    diagnostics = document.diagnostics.count
  }
  precondition(diagnostics == 0, "generated flow of \(size) states has \(diagnostics) diagnostics")
  let perState = time / Double(size) * 1e6
  var growth = ""
  if let previous {
    let ratio = time / previous.time
    let sizeRatio = Double(size) / Double(previous.states)
    growth = String(format: "   x%.1f time for x%.0f states", ratio, sizeRatio)
  }
  print(
    String(size).padding(toLength: 11, withPad: " ", startingAt: 0)
      + String(bytes.count).padding(toLength: 13, withPad: " ", startingAt: 0)
      + format(time).padding(toLength: 13, withPad: " ", startingAt: 0)
      + String(format: "%.2f µs", perState) + growth)
  previous = (size, time)
}

print("\nhostile input (default limits; each must be refused well under a second)")
var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
for level in 1...20 {
  bomb +=
    "a\(level): &a\(level) ["
    + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
}
let cases: [(String, [UInt8])] = [
  ("alias bomb (10^20 nodes)", Array(bomb.utf8)),
  (
    "10 MB scalar",
    Array(("flow: x\ntitle: " + String(repeating: "a", count: 10 * 1024 * 1024) + "\n").utf8)
  ),
  (
    "1,000-deep nesting",
    Array((String(repeating: "[", count: 1_000) + String(repeating: "]", count: 1_000)).utf8)
  ),
  ("50 MB file", [UInt8](repeating: UInt8(ascii: "#"), count: 50 * 1024 * 1024)),
  ("invalid UTF-8", Array("flow: x\n".utf8) + [0xC3, 0x28]),
]
for (name, bytes) in cases {
  var first = ""
  let time = measure(repeats: 3) {
    let document = FlowDocument.parse(
      bytes: bytes, path: "hostile.yaml", catalog: AccountSecurityCatalog.catalog)
    first =
      document.diagnostics.first.map { "\($0.location) \($0.code.rawValue) \($0.code.name)" }
      ?? "accepted!"
  }
  print(
    name.padding(toLength: 26, withPad: " ", startingAt: 0)
      + format(time).padding(toLength: 13, withPad: " ", startingAt: 0) + first)
}
