import AsyncHTTPClient
import Foundation
import GRDB
import NIOCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// `flow-bench http FLOWCTL`: a load generator for `flowctl serve` on loopback. It makes a
/// SQLite store (synchronous=FULL) with one admin and a team of members, starts the real
/// server, and sends events at a fixed rate from lanes that each run team-member sessions
/// (start, edit the number a few times, save: the member is notified), one member per lane.
/// It reports the rate reached, errors and latency percentiles; with `--sigterm-after S` it
/// stops the server mid-load with SIGTERM and checks that every acknowledged step is in the
/// store: each acknowledged seq is at most its session's stored seq, and each session's
/// audit holds one step entry per seq.
enum HTTPLoad {
  struct Options {
    var flowctl = ""
    var rate = 500.0
    var seconds = 60.0
    var lanes = 50
    var sigtermAfter: Double?
    /// A PostgreSQL URL: the store is made there (else a SQLite file).
    var postgres: String?
    var processes = 1

    init(_ arguments: [String]) throws {
      var rest = arguments[...]
      while let argument = rest.popFirst() {
        func value() throws -> String {
          guard let next = rest.popFirst() else { throw LoadError("\(argument) needs a value") }
          return next
        }
        switch argument {
        case "--rate": rate = Double(try value()) ?? rate
        case "--seconds": seconds = Double(try value()) ?? seconds
        case "--lanes": lanes = Int(try value()) ?? lanes
        case "--sigterm-after": sigtermAfter = Double(try value())
        case "--postgres": postgres = try value()
        case "--processes": processes = max(1, Int(try value()) ?? 1)
        default:
          guard flowctl.isEmpty, !argument.hasPrefix("-") else {
            throw LoadError(
              "usage: flow-bench http FLOWCTL [--rate N|0] [--seconds S] [--lanes N] [--sigterm-after S] [--postgres URL] [--processes N]"
            )
          }
          flowctl = argument
        }
      }
      guard !flowctl.isEmpty else { throw LoadError("flow-bench http needs the flowctl binary") }
    }
  }

  struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
  }

  /// What one request did.
  struct Sample: Sendable {
    var milliseconds: Double
    var status: Int
    var session: String?
    var seq: Int?
  }

  static func run(_ arguments: [String]) async throws {
    let options = try Options(arguments)
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flow-bench-http-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let members = options.lanes
    var world = "accounts:\n  - { id: load, name: Load Test }\nusers:\n"
    world +=
      "  - { id: boss, name: Boss, role: admin, account: load, phone: \"+15550300000\", email: boss@load.example, twoFactor: { enabled: true, channel: sms } }\n"
    for member in 1...members {
      world +=
        "  - { id: m\(member), name: Member \(member), role: technician, account: load, phone: \"+1555031\(String(format: "%04d", member))\", email: m\(member)@load.example, twoFactor: { enabled: true, channel: sms } }\n"
    }
    try world.write(
      to: folder.appendingPathComponent("world.yaml"), atomically: true, encoding: .utf8)
    let store = options.postgres ?? folder.appendingPathComponent("load.sqlite").path
    let storeKey = folder.appendingPathComponent("store.key").path
    try shell(
      options.flowctl,
      [
        "store", "init", store, "--world", folder.appendingPathComponent("world.yaml").path,
        "--key-file", storeKey, "--force",
      ])
    let keyFile = folder.appendingPathComponent("auth.key").path
    try (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined().write(
      toFile: keyFile, atomically: true, encoding: .utf8)
    let token = try shell(options.flowctl, ["token", "boss", "--auth-key", keyFile, "--ttl", "1h"])
      .trimmingCharacters(in: .whitespacesAndNewlines)

    var servers: [(process: Process, exitedAt: Moment)] = []
    var bases: [String] = []
    for _ in 0..<options.processes {
      let server = Process()
      server.executableURL = URL(fileURLWithPath: options.flowctl)
      server.arguments = [
        "serve", "--store", store, "--key-file", storeKey, "--flows", "flows", "--auth-key",
        keyFile, "--listen", "127.0.0.1:0", "--synchronous", "full", "--rate-per-user", "1000000",
        "--rate-per-address", "1000000",
      ]
      let out = Pipe()
      server.standardOutput = out
      server.standardError = FileHandle(forWritingAtPath: "/dev/null")
      let exitedAt = Moment()
      server.terminationHandler = { _ in exitedAt.mark() }
      try server.run()
      var line = Data()
      while !line.contains(UInt8(ascii: "\n")) {
        let chunk = out.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        line += chunk
      }
      let text = String(decoding: line, as: UTF8.self)
      guard
        let port = text.split(separator: ":").last.flatMap({
          Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        })
      else {
        server.terminate()
        for other in servers { other.process.terminate() }
        throw LoadError("serve did not start: \(text)")
      }
      servers.append((server, exitedAt))
      bases.append("http://127.0.0.1:\(port)")
    }
    let pids = servers.map(\.process.processIdentifier)
    let addresses = bases

    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(
      idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.lanes + 8)
    let client = HTTPClient(
      eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    let stopped = StopFlag()
    let signalledAt = Moment()
    let started = ContinuousClock.now
    let interval = options.rate > 0 ? 1.0 / options.rate : 0
    let storeLabel =
      options.postgres == nil
      ? "SQLite synchronous=FULL"
      : "PostgreSQL, \(options.processes) process\(options.processes == 1 ? "" : "es")"

    print(
      "flow-bench http: \(options.rate > 0 ? "\(options.rate) events/s" : "as fast as answered") for \(options.seconds) s over \(options.lanes) lanes, \(storeLabel)\(options.sigtermAfter.map { ", SIGTERM after \($0) s" } ?? "")"
    )
    let samples = try await withThrowingTaskGroup(of: [Sample].self) { group in
      if let after = options.sigtermAfter {
        group.addTask {
          try await Task.sleep(for: .milliseconds(Int(after * 1000)))
          stopped.raise()
          signalledAt.mark()
          for pid in pids { kill(pid, SIGTERM) }
          return []
        }
      }
      for lane in 0..<options.lanes {
        let base = addresses[lane % addresses.count]
        let (lanes, seconds) = (options.lanes, options.seconds)
        group.addTask {
          try await Self.lane(
            lane, member: "m\(lane + 1)", lanes: lanes, interval: interval, seconds: seconds,
            started: started, base: base, token: token, client: client, stopped: stopped)
        }
      }
      var all: [Sample] = []
      for try await lane in group { all += lane }
      return all
    }
    let elapsed = seconds(ContinuousClock.now - started)
    try await client.shutdown()
    if options.sigtermAfter == nil { for server in servers { server.process.terminate() } }
    for server in servers { server.process.waitUntilExit() }
    let exits = servers.map { $0.process.terminationStatus }

    let acknowledged = samples.filter { (200..<300).contains($0.status) }
    let failures = samples.filter { !(200..<300).contains($0.status) && $0.status != 0 }
    let cut = samples.filter { $0.status == 0 }
    let latencies = acknowledged.map(\.milliseconds).sorted()
    func percentile(_ p: Double) -> Double {
      latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
    }
    print(
      String(
        format:
          "%d requests in %.1f s (%.0f/s): %d acknowledged, %d errors (4xx/5xx), %d cut by shutdown",
        samples.count, elapsed, Double(samples.count) / elapsed, acknowledged.count,
        failures.count, cut.count))
    print(
      String(
        format: "latency: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms", percentile(0.5),
        percentile(0.9), percentile(0.99), latencies.last ?? 0))
    print(
      String(
        format: "steps per second: %.0f (acknowledged, over %.1f s)",
        Double(acknowledged.count) / min(elapsed, options.seconds), min(elapsed, options.seconds)))
    let lastExit = servers.compactMap(\.exitedAt.value).max()
    if let signalled = signalledAt.value, let exited = lastExit {
      print(
        String(
          format: "serve exited %@, the last %.2f s after SIGTERM",
          exits.map(String.init).joined(separator: ","), seconds(exited - signalled)))
    } else {
      print("serve exited \(exits.map(String.init).joined(separator: ","))")
    }

    // Every acknowledged step is in the store.
    let (stored, audited) = try await Self.stored(store)
    var lost = 0
    for sample in acknowledged {
      guard let session = sample.session, let seq = sample.seq else { continue }
      if (stored[session] ?? -1) < seq { lost += 1 }
    }
    let mismatched = stored.filter { audited[$0.key] != $0.value }.count
    print(
      "acknowledged steps checked: \(acknowledged.count), lost: \(lost); sessions: \(stored.count), seq and audit disagree in \(mismatched)"
    )
    let clean = failures.isEmpty && lost == 0 && mismatched == 0
    let exited = exits.allSatisfy { $0 == 0 }
    let whole = options.sigtermAfter != nil || cut.isEmpty
    let ok = clean && exited && whole
    print(ok ? "1 passed, 0 failed" : "0 passed, 1 failed")
    if !ok { throw LoadError("the load run failed its checks") }
  }

  /// Each session's seq, and its number of step entries in the audit.
  static func stored(_ store: String) async throws -> ([String: Int], [String: Int]) {
    if store.hasPrefix("postgres") {
      func pairs(_ sql: String) throws -> [String: Int] {
        try shell("/usr/bin/psql", [store, "-At", "-F", " ", "-c", sql]).split(separator: "\n")
          .reduce(into: [String: Int]()) { all, line in
            let parts = line.split(separator: " ")
            if parts.count == 2, let count = Int(parts[1]) { all[String(parts[0])] = count }
          }
      }
      return (
        try pairs("SELECT id, seq FROM sessions"),
        try pairs("SELECT session, COUNT(*) FROM audit WHERE kind = 'step' GROUP BY session")
      )
    }
    let queue = try DatabaseQueue(path: store)
    return try await queue.read { db in
      (
        try Row.fetchAll(db, sql: "SELECT id, seq FROM sessions").reduce(into: [String: Int]()) {
          $0[$1["id"]] = $1["seq"]
        },
        try Row.fetchAll(
          db, sql: "SELECT session, COUNT(*) AS n FROM audit WHERE kind = 'step' GROUP BY session"
        ).reduce(into: [String: Int]()) { $0[$1["session"]] = $1["n"] }
      )
    }
  }

  /// One lane: sessions of one member, back to back, each request at its slot in the schedule
  /// (lane `lane` of `lanes`, one slot every `interval` seconds overall).
  static func lane(
    _ lane: Int, member: String, lanes: Int, interval: Double, seconds: Double,
    started: ContinuousClock.Instant, base: String, token: String, client: HTTPClient,
    stopped: StopFlag
  ) async throws -> [Sample] {
    var samples: [Sample] = []
    var slot = 0
    var session: String?
    var edits = 0
    while true {
      if interval > 0 {
        let due = Double(slot * lanes + lane) * interval
        if due >= seconds { break }
        let wait = due - HTTPLoadClock.elapsed(since: started)
        if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
      } else if HTTPLoadClock.elapsed(since: started) >= seconds {
        break
      }
      slot += 1
      let path: String
      let body: String
      if let id = session {
        path = "/v1/sessions/\(id)/events"
        if edits < 8 {
          edits += 1
          body =
            #"{"event":"editPhone","payload":{"phone":"+1555032\#(String(format: "%04d", (lane * 8 + edits) % 10_000))"}}"#
        } else {
          body = #"{"event":"save"}"#
        }
      } else {
        path = "/v1/sessions"
        body = #"{"flow":"update-team-member-2fa-phone","target":"\#(member)"}"#
      }
      var request = HTTPClientRequest(url: base + path)
      request.method = .POST
      request.headers.add(name: "Authorization", value: "Bearer \(token)")
      request.headers.add(name: "Content-Type", value: "application/json")
      request.body = .bytes(ByteBuffer(string: body))
      let sent = ContinuousClock.now
      do {
        let response = try await client.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let milliseconds = HTTPLoadClock.elapsed(since: sent) * 1000
        let json =
          (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)))
          as? [String: Any]
        let object = (json?["session"] as? [String: Any]) ?? json ?? [:]
        let id = object["id"] as? String
        samples.append(
          Sample(
            milliseconds: milliseconds, status: Int(response.status.code), session: id,
            seq: object["seq"] as? Int))
        if object["final"] as? Bool == true || session == nil {
          session = object["final"] as? Bool == true ? nil : id
          edits = 0
        }
      } catch {
        samples.append(Sample(milliseconds: 0, status: 0))
        if stopped.isRaised { break }
      }
    }
    return samples
  }

  @discardableResult
  static func shell(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw LoadError(
        "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
    }
    return String(decoding: data, as: UTF8.self)
  }
}

/// Set once, when the server is sent SIGTERM: lanes then stop at their first refused request.
final class StopFlag: Sendable {
  private let raised = Atomic<Bool>(false)
  var isRaised: Bool { raised.load(ordering: .sequentiallyConsistent) }
  func raise() { raised.store(true, ordering: .sequentiallyConsistent) }
}

/// When something happened, once.
final class Moment: Sendable {
  private let at = Mutex<ContinuousClock.Instant?>(nil)
  var value: ContinuousClock.Instant? { at.withLock { $0 } }
  func mark() { at.withLock { $0 = ContinuousClock.now } }
}

enum HTTPLoadClock {
  static func elapsed(since start: ContinuousClock.Instant) -> Double {
    seconds(ContinuousClock.now - start)
  }
}
