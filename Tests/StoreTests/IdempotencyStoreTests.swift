import AccountSecurity
import FlowEngine
import Foundation
import Testing

/// Idempotency keys, on every store: the answer is kept with its step, in one transaction.
@Suite("Idempotency keys, on every store")
struct IdempotencyStoreTests {
  /// A key whose kept answer is the step's state and seq, as the HTTP service keeps JSON.
  static func key(_ key: String, digest: String, owner: String = "ada")
    -> SessionEngine.Idempotency
  {
    SessionEngine.Idempotency(owner: owner, key: key, digest: digest) { step in
      KeptReply(
        digest: digest, status: step.trace.rejection == nil ? 200 : 422,
        body: Array("\(step.session.state) \(step.session.seq)".utf8))
    }
  }

  @Test(
    "the same key and request replay the first answer with no new step; another request is refused",
    arguments: StoreKind.allCases)
  func replays(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await store.start(ownFlow, actor: "ada").session.id
    let first = try await store.engine.send(
      session: id, event: "disable2FA", payload: [:], idempotency: Self.key("k1", digest: "a"))
    guard case .step(let step, let kept) = first else {
      Issue.record("the first request takes a step: \(first)")
      return
    }
    #expect(step.session.seq == 2)
    #expect(String(decoding: kept.body, as: UTF8.self) == "verifyingCurrentNumber 2")
    let codesBefore = try await store.audit(id).filter { $0.kind == .codeSent }.count

    let again = try await store.engine.send(
      session: id, event: "disable2FA", payload: [:], idempotency: Self.key("k1", digest: "a"))
    guard case .replay(let replayed) = again else {
      Issue.record("the same request replays: \(again)")
      return
    }
    #expect(replayed == kept, "byte for byte")
    #expect(try await store.row(id).seq == 2, "no new step")
    #expect(
      try await store.audit(id).filter { $0.kind == .codeSent }.count == codesBefore,
      "no second code sent")

    let other = try await store.engine.send(
      session: id, event: "cancel", payload: [:], idempotency: Self.key("k1", digest: "b"))
    guard case .keyReused = other else {
      Issue.record("another request under the same key is refused: \(other)")
      return
    }
    #expect(try await store.row(id).seq == 2)

    // Keys are per caller: the same key of another user is another request.
    let alan = try await store.start(teamFlow, actor: "alan", target: "tess").session.id
    let theirs = try await store.engine.send(
      session: alan, event: "cancel", payload: [:],
      idempotency: Self.key("k1", digest: "c", owner: "alan"))
    guard case .step = theirs else {
      Issue.record("another owner's key is their own: \(theirs)")
      return
    }

    // After 24 hours the key is forgotten: the same request is new again (and now rejected,
    // since the session has moved on).
    store.clock.advance(by: 86_401)
    let late = try await store.engine.send(
      session: id, event: "disable2FA", payload: [:], idempotency: Self.key("k1", digest: "a"))
    guard case .step(let lateStep, _) = late else {
      Issue.record("an expired key is forgotten: \(late)")
      return
    }
    #expect(lateStep.trace.rejection != nil)
  }

  @Test(
    "two racing requests with one key: one step, the other replays its answer",
    arguments: StoreKind.allCases)
  func racing(_ kind: StoreKind) async throws {
    let store = try await StoreFixture(kind)
    let id = try await store.start(teamFlow, actor: "ada", target: "tess").session.id
    let engine = store.engine
    let answers = try await withThrowingTaskGroup(of: SessionEngine.Answer.self) { group in
      for _ in 0..<8 {
        group.addTask {
          try await engine.send(
            session: id, event: "editPhone", payload: ["phone": .string("+15550108888")],
            idempotency: Self.key("race", digest: "same"))
        }
      }
      var all: [SessionEngine.Answer] = []
      for try await answer in group { all.append(answer) }
      return all
    }
    var steps: [KeptReply] = []
    var replays: [KeptReply] = []
    for answer in answers {
      switch answer {
      case .step(_, let kept): steps.append(kept)
      case .replay(let kept): replays.append(kept)
      case .keyReused: Issue.record("the same request is never refused")
      }
    }
    #expect(steps.count == 1)
    #expect(replays.count == 7)
    #expect(replays.allSatisfy { $0 == steps.first })
    #expect(try await store.row(id).seq == 2, "exactly one step applied")
    #expect(try await store.audit(id).filter { $0.kind == .step }.count == 2)
  }
}
