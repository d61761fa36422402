import AccountSecurity
import FlowEngine
import Foundation
import GRDB
import Logging
import SQLiteStore

/// `flow-bench timers [N]`: N sessions of the own-number flow on one SQLite store
/// (synchronous=FULL), every one with its idle timeout due at the same second (the worst
/// case for lateness). One tick fires them all; a firing's lateness is the wall time from the
/// due time (the tick's start) to the commit of its batch. Beside it, in the same process:
/// the same number of single-row UPDATEs of the sessions table in batches of the same size
/// (the least a store can do per timer), for the ratio.
enum TimerBench {
  /// Manual while sessions are set up, then real time from a chosen instant: the logical
  /// second `logical` begins at `wall`.
  final class BenchClock: FlowClock, @unchecked Sendable {
    private let lock = NSLock()
    private var manual: Int
    private var live: (logical: Int, wall: ContinuousClock.Instant)?

    init(start: Int) { manual = start }

    func now() -> Int {
      lock.lock()
      defer { lock.unlock() }
      guard let live else { return manual }
      return live.logical + Int(seconds(ContinuousClock.now - live.wall))
    }

    func advance(by seconds: Int) {
      lock.lock()
      manual += seconds
      lock.unlock()
    }

    func goLive(at logical: Int) {
      lock.lock()
      live = (logical, ContinuousClock.now)
      lock.unlock()
    }

    /// When the logical second `time` began, on the wall.
    func wall(of time: Int) -> ContinuousClock.Instant {
      lock.lock()
      defer { lock.unlock() }
      guard let live else { return .now }
      return live.wall + .seconds(time - live.logical)
    }
  }

  static func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
  }

  /// The service's way: pending timers fall due over `spread` seconds (the same number each
  /// second) while a ticker fires what is due and then sleeps until the next second (at most
  /// a second, as the HTTP service's background ticker does).
  static func steady(_ count: Int, spread: Int, batch: Int = 256) async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flow-bench-timers-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let clock = BenchClock(start: 1_767_258_000)
    let store = try SQLiteStore.create(
      path: folder.appendingPathComponent("steady.sqlite").path, world: try StoreBench.world(),
      force: true, synchronous: .full, clock: clock)
    let engine = SessionEngine(
      store: store, catalog: AccountSecurityCatalog.catalog, clock: clock,
      logger: StoreBench.quiet)
    let bytes = StoreBench.ownFlow.sourceBytes
    let first = clock.now() + 15 * 60
    for index in 0..<count {
      if index > 0, index % max(1, count / spread) == 0 { clock.advance(by: 1) }
      _ = try await engine.start(flow: bytes, subjects: ["actor": "ada", "target": "ada"])
    }
    clock.goLive(at: first - 1)
    var lateness: [Double] = []
    lateness.reserveCapacity(count)
    let began = ContinuousClock.now
    while lateness.count < count {
      let fired = try await engine.tickBatch(limit: batch)
      let committed = ContinuousClock.now
      for firing in fired { lateness.append(seconds(committed - clock.wall(of: firing.due))) }
      if fired.isEmpty {
        // Sleep until the next second begins (a service would also wake for new sessions).
        let next = clock.wall(of: clock.now() + 1)
        try await Task.sleep(for: max(.milliseconds(1), next - ContinuousClock.now))
      }
      if seconds(ContinuousClock.now - began) > Double(spread) + 60 { break }
    }
    lateness.sort()
    print(
      "  steady: \(lateness.count) timers due over \(spread) s (\(count / spread) a second), a ticker that sleeps until the next second: lateness p50 \(String(format: "%.3f", percentile(lateness, 0.5))) s, p99 \(String(format: "%.3f", percentile(lateness, 0.99))) s, max \(String(format: "%.3f", lateness.last ?? 0)) s"
    )
  }

  static func run(_ count: Int, batch: Int = 256) async throws {
    try await burst(count, batch: batch)
    try await steady(count, spread: 20, batch: batch)
  }

  /// Every timer due at the same second: one tick fires them all.
  static func burst(_ count: Int, batch: Int = 256) async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flow-bench-timers-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let clock = ManualClock()
    let path = folder.appendingPathComponent("timers.sqlite").path
    let store = try SQLiteStore.create(
      path: path, world: try StoreBench.world(), force: true, synchronous: .full, clock: clock)
    let engine = SessionEngine(
      store: store, catalog: AccountSecurityCatalog.catalog, clock: clock,
      logger: StoreBench.quiet)
    let bytes = StoreBench.ownFlow.sourceBytes
    print(
      "timers: \(count) sessions of the own-number flow on SQLite (synchronous=FULL); lateness: from a timer's due time to its batch's commit"
    )
    let setup = ContinuousClock.now
    for _ in 0..<count {
      _ = try await engine.start(flow: bytes, subjects: ["actor": "ada", "target": "ada"])
    }
    print("  set up in \(String(format: "%.1f", seconds(ContinuousClock.now - setup))) s")
    clock.advance(by: 15 * 60)

    var lateness: [Double] = []
    lateness.reserveCapacity(count)
    let began = ContinuousClock.now
    while true {
      let fired = try await engine.tickBatch(limit: batch)
      if fired.isEmpty { break }
      let now = seconds(ContinuousClock.now - began)
      lateness += [Double](repeating: now, count: fired.count)
    }
    let elapsed = seconds(ContinuousClock.now - began)
    let expired = try await store.query(
      "SELECT count(*) FROM sessions WHERE outcome = 'expired'")
    let timerEntries = try await store.query("SELECT count(*) FROM audit WHERE kind = 'timer'")
    lateness.sort()
    func percentile(_ p: Double) -> Double { Self.percentile(lateness, p) }
    print(
      "  burst: all due at once, one tick: \(lateness.count) timers fired in \(String(format: "%.2f", elapsed)) s (\(Int(Double(lateness.count) / elapsed))/s, batches of \(batch)); lateness p50 \(String(format: "%.3f", percentile(0.5))) s, p99 \(String(format: "%.3f", percentile(0.99))) s, max \(String(format: "%.3f", lateness.last ?? 0)) s"
    )
    print(
      "  afterwards: \(expired.first?.first ?? "?") sessions expired, \(timerEntries.first?.first ?? "?") timer audit entries; a second tick fires \(try await engine.tick().count)"
    )

    // The reference: touch every session row once, in batches of the same size.
    var configuration = Configuration()
    configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    let pool = try DatabasePool(path: path, configuration: configuration)
    let ids = try await pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM sessions") }
    let rawBegan = ContinuousClock.now
    for start in stride(from: 0, to: ids.count, by: batch) {
      let slice = Array(ids[start..<min(ids.count, start + batch)])
      try await pool.write { db in
        for id in slice {
          try db.execute(
            sql: "UPDATE sessions SET updated_at = updated_at + 1 WHERE id = ?", arguments: [id])
        }
      }
    }
    let raw = seconds(ContinuousClock.now - rawBegan)
    print(
      "  reference: \(ids.count) single-row UPDATEs in batches of \(batch) in \(String(format: "%.3f", raw)) s (\(Int(Double(ids.count) / raw))/s); timers fired at \(String(format: "%.3f", raw / elapsed)) of that rate"
    )
  }
}
