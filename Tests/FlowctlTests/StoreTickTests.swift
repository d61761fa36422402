import Foundation
import Testing

/// `flowctl store tick` through the real binary on a real SQLite store.
@Suite("flowctl store tick")
struct StoreTickTests {
  static let own = "flows/update-own-2fa-phone.yaml"

  static func start(_ store: String) throws -> (id: String, startedAt: Date) {
    let start = try Flowctl.run([
      "session", "start", Self.own, "--store", store, "--actor", "ada", "--json",
    ])
    #expect(start.status == 0, "\(start.stderr)")
    let id = try #require(try SessionCommandTests.json(start.stdout)["session"] as? String)
    let shown = try Flowctl.run(["session", "show", id, "--store", store, "--json"])
    let object = try SessionCommandTests.json(shown.stdout)
    let startedText = try #require(object["startedAt"] as? String)
    let started = try #require(ISO8601DateFormatter().date(from: startedText))
    #expect(object["dueAt"] as? String == ISO8601DateFormatter().string(from: started + 900))
    return (id, started)
  }

  static func at(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

  static func timerEntries(_ store: String, _ id: String) throws -> [String] {
    let audit = try Flowctl.run(["store", "audit", store, "--session", id])
    #expect(audit.status == 0, "\(audit.stderr)")
    return audit.stdout.split(separator: "\n").map(String.init).filter { $0.contains(" timer ") }
  }

  @Test("20 minutes later a tick ends the session expired, once; a second tick changes nothing")
  func tickExpiresOnce() throws {
    let store = try SessionCommandTests.newStore()
    let (id, started) = try Self.start(store)
    let tick = try Flowctl.run(["store", "tick", store, "--at", Self.at(started + 1_200)])
    #expect(tick.status == 0, "\(tick.stderr)")
    #expect(
      tick.stdout
        == "\(id) after 15m in securityCenter: securityCenter → expired, outcome expired\nfired 1 timer in 1 session at \(Self.at(started + 1_200))\n"
    )
    let shown = try SessionCommandTests.json(
      try Flowctl.run(["session", "show", id, "--store", store, "--json"]).stdout)
    #expect(shown["state"] as? String == "expired")
    #expect(shown["outcome"] as? String == "expired")
    #expect(shown["dueAt"] is NSNull)
    #expect(try Self.timerEntries(store, id).count == 1)

    let again = try Flowctl.run(["store", "tick", store])
    #expect(again.status == 0)
    #expect(again.stdout.hasPrefix("fired 0 timers in 0 sessions"), "\(again.stdout)")
    #expect(try Self.timerEntries(store, id).count == 1)
    // The store's clock stays where --at moved it: it never goes back.
    let back = try Flowctl.run(["store", "tick", store, "--at", Self.at(started + 60)])
    #expect(back.status == 1)
    #expect(back.stderr.contains("it cannot go back to"), "\(back.stderr)")
    let bad = try Flowctl.run(["store", "tick", store, "--at", "tomorrow"])
    #expect(bad.status == 1)
    #expect(bad.stderr.contains("is not a UTC time in ISO 8601"))
  }

  @Test("--json prints one object per firing")
  func json() throws {
    let store = try SessionCommandTests.newStore()
    let (id, started) = try Self.start(store)
    let tick = try Flowctl.run(["store", "tick", store, "--at", Self.at(started + 900), "--json"])
    #expect(tick.status == 0, "\(tick.stderr)")
    let object = try SessionCommandTests.json(tick.stdout)
    #expect(object["session"] as? String == id)
    #expect(object["timer"] as? String == "after 15m in securityCenter")
    #expect(object["from"] as? String == "securityCenter")
    #expect(object["to"] as? String == "expired")
    #expect(object["outcome"] as? String == "expired")
    #expect(object["accepted"] as? Bool == true)
    #expect(object["seq"] as? Int == 2)
  }

  @Test("a tick killed between its commit and its exit has fired the timer once")
  func killedAfterCommit() throws {
    let store = try SessionCommandTests.newStore()
    let (id, started) = try Self.start(store)
    let killed = try Flowctl.run(
      ["store", "tick", store, "--at", Self.at(started + 1_200)],
      environment: ["FLOWENGINE_FAULT": "kill-after-commit"])
    #expect(killed.status == SIGKILL, "killed by SIGKILL: \(killed.status)")
    #expect(killed.stdout.isEmpty)
    let again = try Flowctl.run(["store", "tick", store])
    #expect(again.status == 0)
    #expect(again.stdout.hasPrefix("fired 0 timers"), "\(again.stdout)")
    #expect(try Self.timerEntries(store, id).count == 1)
    let shown = try SessionCommandTests.json(
      try Flowctl.run(["session", "show", id, "--store", store, "--json"]).stdout)
    #expect(shown["outcome"] as? String == "expired")
  }

  @Test("an event sent after the due time fires the timer first, in the same store")
  func lateEvent() throws {
    let store = try SessionCommandTests.newStore()
    let (id, started) = try Self.start(store)
    #expect(
      try Flowctl.run(["store", "tick", store, "--at", Self.at(started + 16 * 60)]).status == 0)
    let late = try Flowctl.run(["session", "send", id, "disable2FA", "--store", store, "--json"])
    #expect(late.status == 3, "rejected: the session has ended")
    #expect(late.stdout.contains("session-ended"), "\(late.stdout)")
  }
}
