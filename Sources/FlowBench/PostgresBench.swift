import AccountSecurity
import FlowEngine
import Foundation
import PostgresStore

#if canImport(Glibc)
  import Glibc
#endif

/// `flow-bench postgres URL [--seconds S] [--lanes N] [--processes N]`: durable steps/s of the
/// engine itself on PostgreSQL (no HTTP), from one or several engine processes on one
/// database. It makes a store at URL (replacing what is there) with one admin and a member
/// per lane; each process runs its share of the lanes, and each lane runs team-member
/// sessions back to back (start, eight number edits, save: the member is notified), so every
/// step is durable: an edit is one statement on its own that checks what it read, a start
/// and a save a transaction each (`PostgresStore.write(reading:_:)`). The processes are this
/// binary again (`flow-bench postgres-worker`); the parent adds up their steps and latencies.
/// Run it beside `pgbench` on the same cluster (`scripts/pg-bench.sh` does both).
enum PostgresBench {
  struct Options {
    var url = ""
    var seconds = 15.0
    var lanes = 16
    var processes = 1

    init(_ arguments: [String]) throws {
      var rest = arguments[...]
      while let argument = rest.popFirst() {
        func number() throws -> Double {
          guard let next = rest.popFirst(), let value = Double(next), value > 0 else {
            throw HTTPLoad.LoadError("\(argument) needs a positive number")
          }
          return value
        }
        switch argument {
        case "--seconds": seconds = try number()
        case "--lanes": lanes = Int(try number())
        case "--processes": processes = Int(try number())
        default:
          guard url.isEmpty, PostgresStore.isURL(argument) else {
            throw HTTPLoad.LoadError(
              "usage: flow-bench postgres postgres://USER@HOST:PORT/DB [--seconds S] [--lanes N] [--processes N]"
            )
          }
          url = argument
        }
      }
      guard !url.isEmpty else { throw HTTPLoad.LoadError("flow-bench postgres needs a URL") }
      processes = max(1, min(processes, lanes))
    }
  }

  static let teamFlow = StoreBench.flow("flows/update-team-member-2fa-phone.yaml")

  static func world(members: Int) throws -> AccountSecurityState {
    var state = AccountSecurityState()
    state.add(Account(id: "load", name: "Load Test"))
    state.add(
      User(
        id: "boss", name: "Boss", role: .admin, account: "load",
        phone: try PhoneNumber(parsing: "+15550300000"), email: "boss@load.example",
        twoFactor: TwoFactorSettings(enabled: true)))
    for member in 1...members {
      state.add(
        User(
          id: "m\(member)", name: "Member \(member)", role: .technician, account: "load",
          phone: try PhoneNumber(parsing: "+1555031" + String(format: "%04d", member)),
          email: "m\(member)@load.example", twoFactor: TwoFactorSettings(enabled: true)))
    }
    return state
  }

  static func run(_ arguments: [String]) async throws {
    let options = try Options(arguments)
    let key = SessionKey.random()
    let store = try await PostgresStore.create(
      url: options.url, world: try world(members: options.lanes), force: true, key: key)
    await store.close()
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flow-bench-postgres-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    print(
      "flow-bench postgres: engine steps (no HTTP) for \(options.seconds) s, \(options.lanes) lanes over \(options.processes) process\(options.processes == 1 ? "" : "es")"
    )
    var workers: [(Process, URL)] = []
    var first = 1
    for index in 0..<options.processes {
      let lanes =
        options.lanes / options.processes + (index < options.lanes % options.processes ? 1 : 0)
      let output = folder.appendingPathComponent("worker-\(index).txt")
      let worker = Process()
      worker.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
      worker.arguments = [
        "postgres-worker", options.url, String(lanes), String(first), String(options.seconds),
        output.path,
      ]
      worker.environment = ProcessInfo.processInfo.environment.merging(
        ["FLOW_BENCH_KEY": key.hex], uniquingKeysWith: { $1 })
      try worker.run()
      workers.append((worker, output))
      first += lanes
    }
    var latencies: [Double] = []
    var failed = 0
    for (worker, output) in workers {
      worker.waitUntilExit()
      if worker.terminationStatus != 0 { failed += 1 }
      let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
      latencies += text.split(separator: "\n").compactMap { Double($0) }
    }
    guard failed == 0 else { throw HTTPLoad.LoadError("\(failed) worker(s) failed") }
    latencies.sort()
    func percentile(_ p: Double) -> Double {
      latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
    }
    print(
      String(
        format: "%d steps in %.1f s; latency p50 %.2f ms, p99 %.2f ms", latencies.count,
        options.seconds, percentile(0.5), percentile(0.99)))
    print(
      String(
        format: "engine steps per second: %.0f (%d process%@)",
        Double(latencies.count) / options.seconds, options.processes,
        options.processes == 1 ? "" : "es"))
  }

  /// One engine process: `postgres-worker URL LANES FIRST SECONDS OUTPUT` (key in
  /// `FLOW_BENCH_KEY`). Writes each step's latency in milliseconds, one per line.
  static func worker(_ arguments: [String]) async throws {
    guard arguments.count == 5, let lanes = Int(arguments[1]), let first = Int(arguments[2]),
      let seconds = Double(arguments[3]),
      let key = ProcessInfo.processInfo.environment["FLOW_BENCH_KEY"].flatMap(SessionKey.init(hex:))
    else {
      throw HTTPLoad.LoadError("usage: flow-bench postgres-worker URL LANES FIRST SECONDS OUTPUT")
    }
    let store = try await PostgresStore.open(url: arguments[0], key: key, logger: StoreBench.quiet)
    let engine = SessionEngine(
      store: store, catalog: AccountSecurityCatalog.catalog, clock: store.clock,
      logger: StoreBench.quiet)
    let bytes = teamFlow.sourceBytes
    let started = ContinuousClock.now
    let all = try await withThrowingTaskGroup(of: [Double].self) { group in
      for lane in 0..<lanes {
        let member = "m\(first + lane)"
        group.addTask {
          var latencies: [Double] = []
          var edits = 0
          var session: String?
          while HTTPLoadClock.elapsed(since: started) < seconds {
            let began = ContinuousClock.now
            let step: SessionEngine.Step
            if let id = session {
              if edits < 8 {
                edits += 1
                let number = "+1555032" + String(format: "%04d", (lane * 8 + edits) % 10_000)
                step = try await engine.send(
                  session: id, event: "editPhone", payload: ["phone": Value.string(number)])
              } else {
                step = try await engine.send(session: id, event: "save", payload: [:])
              }
            } else {
              step = try await engine.start(
                flow: bytes, subjects: ["actor": "boss", "target": member])
              edits = 0
            }
            guard step.accepted else {
              throw StoreBench.Rejected(event: step.trace.event ?? "start", trace: step.trace)
            }
            latencies.append(HTTPLoadClock.elapsed(since: began) * 1000)
            session = step.session.isFinal ? nil : step.session.id
          }
          return latencies
        }
      }
      var all: [Double] = []
      for try await lane in group { all += lane }
      return all
    }
    let (onLoop, alone, moved) = store.stepsOnLoop
    FileHandle.standardError.write(
      Data(
        "worker: \(onLoop) steps on the event loop (\(alone) alone), \(moved) went on a thread\n"
          .utf8))
    await store.close()
    let text: String = all.map { String(format: "%.3f", $0) }.joined(separator: "\n")
    try text.write(
      toFile: arguments[4], atomically: true, encoding: .utf8)
  }
}
