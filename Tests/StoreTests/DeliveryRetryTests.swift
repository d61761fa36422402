import AccountSecurity
import FlowEngine
import Foundation
import SQLiteStore
import Synchronization
import Testing

/// The outbox on a live store: deliveries retried with backoff, given up after the last
/// attempt, every failure audited (SECURITY.md 33), the key the same on every try.
@Suite("Deliveries to real providers")
struct DeliveryRetryTests {
  /// A provider that fails the first `failures` attempts of every message, and records each.
  final class FlakyProvider: DeliveryProvider {
    let failures: Int
    let seen = Mutex<[OutboundMessage]>([])

    init(failures: Int) {
      self.failures = failures
    }

    func deliver(_ message: OutboundMessage) async throws {
      let count = seen.withLock { seen in
        seen.append(message)
        return seen.filter { $0.key == message.key }.count
      }
      if count <= failures { throw StoreError("the provider answered 503") }
    }
  }

  static func liveStore(_ clock: ManualClock) throws -> (SQLiteStore, SessionEngine) {
    let world = try #require(
      WorldFile.load(path: packageRoot.appendingPathComponent("examples/team.yaml").path).state)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "live-\(UUID().uuidString).sqlite"
    ).path
    let store = try SQLiteStore.create(path: path, world: world, kind: .live, clock: clock)
    return (
      store, SessionEngine(store: store, catalog: AccountSecurityCatalog.catalog, clock: clock)
    )
  }

  @Test("a failed delivery is retried after the backoff, doubling, with the same key and body")
  func retried() async throws {
    let clock = ManualClock()
    let (store, engine) = try Self.liveStore(clock)
    let started = try await engine.start(
      flow: Array(try text(ownFlow).utf8), subjects: ["actor": "ada", "target": "ada"])
    _ = try await engine.send(session: started.session.id, event: "disable2FA", payload: [:])
    let provider = FlakyProvider(failures: 2)
    let policy = DeliveryRetry(attempts: 5, backoff: 2)
    #expect(policy.wait(after: 1) == 2 && policy.wait(after: 2) == 4 && policy.wait(after: 3) == 8)

    #expect(try await store.dispatch(to: provider, retry: policy) == 0)
    #expect(try await store.pendingDeliveries() == 1)
    // Not due again before the backoff.
    clock.advance(by: 1)
    #expect(try await store.dispatch(to: provider, retry: policy) == 0)
    #expect(provider.seen.withLock { $0.count } == 1)
    clock.advance(by: 1)
    #expect(try await store.dispatch(to: provider, retry: policy) == 0)
    #expect(provider.seen.withLock { $0.count } == 2)
    clock.advance(by: 3)
    #expect(try await store.dispatch(to: provider, retry: policy) == 0, "4 s after the second")
    clock.advance(by: 1)
    #expect(try await store.dispatch(to: provider, retry: policy) == 1)
    #expect(try await store.pendingDeliveries() == 0)
    let seen = provider.seen.withLock { $0 }
    #expect(seen.count == 3)
    #expect(Set(seen).count == 1, "the same key and body every time")
    let failures = try await store.audit().filter { $0.kind == .deliveryFailed }
    #expect(failures.map(\.outcome) == ["failed", "failed"])
    #expect(failures.allSatisfy { $0.detail.contains("+1******0001") })
    #expect(failures.allSatisfy { !$0.detail.contains("+15550100001") })
    let code = try #require(seen.first?.code)
    #expect(failures.allSatisfy { !$0.detail.contains(code) }, "no code in the audit")
  }

  @Test("after the last attempt a delivery is given up, audited, and no longer pending")
  func givenUp() async throws {
    let clock = ManualClock()
    let (store, engine) = try Self.liveStore(clock)
    let started = try await engine.start(
      flow: Array(try text(ownFlow).utf8), subjects: ["actor": "ada", "target": "ada"])
    _ = try await engine.send(session: started.session.id, event: "disable2FA", payload: [:])
    let provider = FlakyProvider(failures: 100)
    let policy = DeliveryRetry(attempts: 3, backoff: 1)
    for _ in 0..<10 {
      _ = try await store.dispatch(to: provider, retry: policy)
      clock.advance(by: 60)
    }
    #expect(provider.seen.withLock { $0.count } == 3)
    #expect(try await store.pendingDeliveries() == 0)
    let failures = try await store.audit(session: started.session.id).filter {
      $0.kind == .deliveryFailed
    }
    #expect(failures.map(\.outcome) == ["failed", "failed", "given-up"])
    #expect(failures.last?.detail.contains("attempt 3 of 3") == true)
    #expect(
      try await store.query("SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL") == [["1"]])
  }
}
