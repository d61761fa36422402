import Foundation
import Testing

/// `flowctl store` and `flowctl session` through the real binary, one process per step: only
/// the store file carries a session from one command to the next.
@Suite("flowctl session and store")
struct SessionCommandTests {
  static let own = "flows/update-own-2fa-phone.yaml"
  static let team = "flows/update-team-member-2fa-phone.yaml"

  /// A new dry-run store of examples/team.yaml in a temporary folder.
  static func newStore() throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("team.sqlite").path
    let made = try Flowctl.run(["store", "init", path, "--world", "examples/team.yaml"])
    #expect(made.status == 0, "\(made.stderr)")
    #expect(
      made.stdout
        == "created dry-run store \(path): 2 accounts, 6 users, 2 call routes; key in \(path).key\n"
    )
    let key = try String(contentsOfFile: path + ".key", encoding: .utf8)
    #expect(key.count == 65 && key.hasSuffix("\n"), "64 hex digits")
    let mode = try FileManager.default.attributesOfItem(atPath: path + ".key")[.posixPermissions]
    #expect((mode as? NSNumber)?.intValue == 0o600, "readable by its owner only")
    return path
  }

  static func json(_ text: String) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
  }

  @Test("the own-number procedure, one process per event, as the README shows it")
  func ownNumberProcedure() throws {
    let store = try Self.newStore()
    let start = try Flowctl.run([
      "session", "start", Self.own, "--store", store, "--actor", "ada", "--json",
    ])
    #expect(start.status == 0, "\(start.stderr)")
    let started = try Self.json(start.stdout)
    let id = try #require(started["session"] as? String)
    #expect(id.count == 32)
    #expect(started["seq"] as? Int == 1)
    #expect(started["to"] as? String == "securityCenter")
    #expect(started["accepted"] as? Bool == true)

    func send(_ arguments: [String], seq: Int? = nil) throws -> (Int32, [String: Any]) {
      var command = ["session", "send", id] + arguments + ["--store", store, "--json"]
      if let seq { command += ["--seq", String(seq)] }
      let result = try Flowctl.run(command)
      return (result.status, try Self.json(result.stdout))
    }
    func lastCode(_ destination: String) throws -> String {
      let result = try Flowctl.run(["store", "inbox", store, destination, "--last-code"])
      #expect(result.status == 0, "\(result.stderr)")
      let code = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
      #expect(code.count == 6 && code.allSatisfy(\.isNumber))
      return code
    }

    let (disabled, disableStep) = try send(["disable2FA"], seq: 1)
    #expect(disabled == 0)
    #expect(disableStep["seq"] as? Int == 2)
    let deliveries = try #require(disableStep["deliveries"] as? [[String: String]])
    #expect(deliveries == [["channel": "sms", "to": "+1******0001"]])
    #expect(!(try send(["submitCode", "code=000000"]).1.description.contains("000000")))
    #expect(
      try send(["submitCode", "code=\(lastCode("+15550100001"))"]).1["to"] as? String
        == "editingPhone")
    #expect(try send(["editPhone", "phone=+15550109999"]).0 == 0)
    #expect(try send(["save"]).0 == 0)
    #expect(try send(["enable2FA"]).0 == 0)
    let (done, doneStep) = try send(["submitCode", "code=\(lastCode("+15550109999"))"])
    #expect(done == 0)
    #expect(doneStep["outcome"] as? String == "completed")
    #expect(doneStep["seq"] as? Int == 8)

    let show = try Flowctl.run(["session", "show", id, "--store", store, "--json"])
    #expect(show.status == 0)
    let shown = try Self.json(show.stdout)
    #expect(
      Set(shown.keys) == [
        "id", "flow", "version", "contentHash", "state", "seq", "final", "outcome", "startedAt",
        "updatedAt", "expiresAt", "dueAt",
      ])
    #expect(shown["dueAt"] is NSNull, "a completed session has no timer pending")
    #expect(shown["state"] as? String == "completed" && shown["final"] as? Bool == true)
    #expect(shown["seq"] as? Int == 8 && shown["flow"] as? String == "update-own-2fa-phone")
    let expires = try #require(shown["expiresAt"] as? String)
    #expect(
      expires.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#, options: .regularExpression) != nil)

    let audit = try Flowctl.run(["store", "audit", store, "--session", id])
    #expect(audit.status == 0)
    let lines = audit.stdout.split(separator: "\n")
    #expect(lines.filter { $0.contains(" step ") }.count == 8, "one step entry per seq")
    #expect(lines.contains { $0.contains(" verification-failed ") })
    #expect(!audit.stdout.contains("+15550109999"), "numbers are masked in the audit log")
    let auditJSON = try Flowctl.run(["store", "audit", store, "--session", id, "--json"])
    #expect(
      try auditJSON.stdout.split(separator: "\n").allSatisfy {
        try Self.json(String($0))["session"] as? String == id
      })
  }

  @Test("exit statuses: 1 bad input or unknown session, 3 rejected, 4 conflict, 5 store error")
  func exitStatuses() throws {
    let store = try Self.newStore()
    let start = try Flowctl.run([
      "session", "start", Self.team, "--store", store, "--actor", "ada", "--target", "tess",
      "--json",
    ])
    let id = try #require(try Self.json(start.stdout)["session"] as? String)

    let unknown = try Flowctl.run(["session", "send", "0123", "save", "--store", store])
    #expect(unknown.status == 1)
    #expect(unknown.stderr == "error: unknown session '0123'\n")
    let malformed = try Flowctl.run(["session", "send", id, "editPhone", "phone", "--store", store])
    #expect(malformed.status == 1)
    #expect(malformed.stderr.contains("payload 'phone' is not FIELD=VALUE"))

    let rejected = try Flowctl.run(["session", "send", id, "save", "--store", store])
    #expect(rejected.status == 3)
    #expect(rejected.stdout.contains("rejected in editingPhone (not-accepted)"))
    let invalid = try Flowctl.run([
      "session", "send", id, "editPhone", "phone=555", "--store", store, "--json",
    ])
    #expect(invalid.status == 3)
    #expect(try Self.json(invalid.stdout)["rejection"] as? String == "invalid-payload")

    let stale = try Flowctl.run(["session", "send", id, "cancel", "--store", store, "--seq", "7"])
    #expect(stale.status == 4)
    #expect(stale.stderr.contains("is at seq 1, not 7"))

    let notAStore = try Flowctl.temporaryFile("not a database", name: "x.sqlite")
    let broken = try Flowctl.run(["session", "send", id, "cancel", "--store", notAStore.path])
    #expect(broken.status == 5, "\(broken.stderr)")
    let missing = try Flowctl.run(["session", "show", id, "--store", "/nonexistent/x.sqlite"])
    #expect(missing.status == 1)

    // The key lives beside the file, or in FLOWENGINE_STORE_KEY; without it nothing opens.
    let keyText = try String(contentsOfFile: store + ".key", encoding: .utf8)
    try FileManager.default.moveItem(atPath: store + ".key", toPath: store + ".moved")
    let keyless = try Flowctl.run(["session", "show", id, "--store", store])
    #expect(keyless.status == 5)
    #expect(keyless.stderr.contains("no key for \(store): expected \(store).key"))
    let fromEnvironment = try Flowctl.run(
      ["session", "show", id, "--store", store],
      environment: ["FLOWENGINE_STORE_KEY": keyText.trimmingCharacters(in: .newlines)])
    #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
    let wrongKey = try Flowctl.run(
      ["session", "show", id, "--store", store],
      environment: ["FLOWENGINE_STORE_KEY": String(repeating: "ab", count: 32)])
    #expect(wrongKey.status == 5)
    #expect(wrongKey.stderr.contains("is not this store's key"))
    try FileManager.default.moveItem(atPath: store + ".moved", toPath: store + ".key")

    let again = try Flowctl.run(["store", "init", store, "--world", "examples/team.yaml"])
    #expect(again.status == 1)
    #expect(again.stderr.contains("already exists; use --force"))
    #expect(
      try Flowctl.run(["store", "init", store, "--world", "examples/team.yaml", "--force"]).status
        == 0)
    #expect(try Flowctl.run(["session", "show", id, "--store", store]).status == 1, "a new store")
  }

  /// Acceptance: 100 rounds of two processes sending an event with the same --seq at once;
  /// in every round exactly one is accepted and the other is a conflict.
  @Test("two processes racing on one seq: exactly one applies, 100 rounds")
  func racingProcesses() throws {
    let store = try Self.newStore()
    let start = try Flowctl.run([
      "session", "start", Self.team, "--store", store, "--actor", "ada", "--target", "tess",
      "--json",
    ])
    let id = try #require(try Self.json(start.stdout)["session"] as? String)
    #expect(
      try Flowctl.run(["session", "send", id, "editPhone", "phone=+15550109000", "--store", store])
        .status == 0)
    var seq = 2
    for round in 0..<100 {
      let statuses = try [0, 1].map { racer -> Process in
        let process = Process()
        process.executableURL = Flowctl.executable
        process.arguments = [
          "session", "send", id, "editPhone",
          "phone=+1555011\(String(format: "%04d", round * 2 + racer))",
          "--store", store, "--seq", String(seq),
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
      }.map { process in
        process.waitUntilExit()
        return process.terminationStatus
      }
      #expect(statuses.sorted() == [0, 4], "round \(round): \(statuses)")
      seq += 1
    }
    let show = try Self.json(
      try Flowctl.run(["session", "show", id, "--store", store, "--json"]).stdout)
    #expect(show["seq"] as? Int == 102)
  }

  @Test("every store command explains itself")
  func help() throws {
    for command in [
      ["store", "init"], ["store", "inbox"], ["store", "audit"], ["store", "dispatch"],
      ["session", "start"], ["session", "send"], ["session", "show"],
    ] {
      let result = try Flowctl.run(command + ["--help"])
      #expect(result.status == 0)
      #expect(result.stdout.contains("USAGE: flowctl \(command.joined(separator: " "))"))
    }
    let send = try Flowctl.run(["session", "send", "--help"])
    let words = send.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    #expect(words.contains("Exit status: 0 accepted; 1 bad input"))
    #expect(
      words.contains("3 rejected") && words.contains("4 conflict")
        && words.contains("5 a store error"))
  }
}
