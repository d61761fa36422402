import Foundation
import Testing

/// `flowctl serve` through the real binary on a free loopback port, called with curl: both
/// procedures of the help article over HTTP, codes read off the dry-run inbox, and every
/// status code the API promises.
@Suite("flowctl serve", .serialized)
struct ServeTests {
  /// A running `flowctl serve`, stopped with SIGTERM.
  final class Server {
    let process = Process()
    let port: Int
    let key: String
    let stderr: URL

    init(store: String, flows: String = "flows", extra: [String] = []) throws {
      let folder = URL(fileURLWithPath: store).deletingLastPathComponent()
      key = folder.appendingPathComponent("auth.key").path
      // A text key (as `head -c 32 /dev/urandom | base64` makes): 64 hex digits.
      let hex = (0..<32).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
      try Data((hex + "\n").utf8).write(to: URL(fileURLWithPath: key))
      stderr = folder.appendingPathComponent("serve-\(UUID().uuidString).log")
      _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
      process.executableURL = Flowctl.executable
      process.arguments =
        [
          "serve", "--store", store, "--flows", flows, "--auth-key", key, "--listen",
          "127.0.0.1:0",
        ] + extra
      process.currentDirectoryURL = Flowctl.packageRoot
      let out = Pipe()
      process.standardOutput = out
      process.standardError = try FileHandle(forWritingTo: stderr)
      try process.run()
      // The first line says where it listens.
      var line = Data()
      while !line.contains(UInt8(ascii: "\n")) {
        let chunk = out.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        line += chunk
      }
      let text = String(decoding: line, as: UTF8.self)
      guard text.hasPrefix("listening on http://127.0.0.1:"),
        let port = Int(
          text.split(separator: ":").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
      else {
        process.terminate()
        throw ServeError(
          "serve did not start: \(text) \((try? String(contentsOf: stderr, encoding: .utf8)) ?? "")"
        )
      }
      self.port = port
    }

    func token(_ user: String, ttl: String = "15m") throws -> String {
      let minted = try Flowctl.run(["token", user, "--auth-key", key, "--ttl", ttl])
      #expect(minted.status == 0, "\(minted.stderr)")
      return minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Reply {
      var status: Int
      var body: String
      var retryAfter: String
      var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
      }
    }

    /// One request with curl.
    func call(
      _ method: String, _ path: String, token: String? = nil, body: String? = nil,
      headers: [String] = []
    ) throws -> Reply {
      var arguments = [
        "-s", "-X", method, "-w", "\n%{http_code}\n%header{retry-after}",
        "http://127.0.0.1:\(port)\(path)",
      ]
      if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
      for header in headers { arguments += ["-H", header] }
      if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
      let curl = Process()
      curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
      curl.arguments = arguments
      let out = Pipe()
      curl.standardOutput = out
      try curl.run()
      let data = out.fileHandleForReading.readDataToEndOfFile()
      curl.waitUntilExit()
      var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
      let retry = lines.popLast() ?? ""
      let status = Int(lines.popLast() ?? "") ?? 0
      return Reply(status: status, body: lines.joined(separator: "\n"), retryAfter: retry)
    }

    /// Sends SIGTERM and waits; the exit status.
    func stop() -> Int32 {
      process.terminate()
      process.waitUntilExit()
      return process.terminationStatus
    }
  }

  struct ServeError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
  }

  static func session(_ reply: Server.Reply) -> [String: Any] {
    (reply.json["session"] as? [String: Any]) ?? reply.json
  }

  static func lastCode(_ server: Server, _ token: String, _ destination: String) throws -> String {
    let inbox = try server.call("GET", "/v1/dev/inbox/\(destination)", token: token)
    #expect(inbox.status == 200, "\(inbox.body)")
    let messages = try #require(inbox.json["messages"] as? [[String: Any]])
    return try #require(messages.last { $0["code"] != nil }?["code"] as? String)
  }

  @Test("both procedures over HTTP, and every status code: 401 403 404 409 410 422, replays")
  func procedures() throws {
    let store = try SessionCommandTests.newStore()
    let server = try Server(store: store)
    defer { _ = server.stop() }
    let ada = try server.token("ada")

    // Who is calling.
    #expect(try server.call("GET", "/v1/flows").status == 401)
    #expect(try server.call("GET", "/v1/flows", token: "not.a.token").status == 401)
    #expect(try server.call("GET", "/v1/flows", token: try server.token("nobody")).status == 403)
    let flows = try server.call("GET", "/v1/flows", token: ada)
    #expect(flows.status == 200)
    let ids = (flows.json["flows"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    #expect(ids.contains("update-own-2fa-phone") && ids.contains("update-team-member-2fa-phone"))
    #expect(try server.call("GET", "/v1/flows/update-own-2fa-phone", token: ada).status == 200)
    #expect(try server.call("GET", "/v1/flows/nope", token: ada).status == 404)

    // Bad bodies: a 4xx naming the field, never a 500.
    #expect(try server.call("POST", "/v1/sessions", token: ada, body: "{oops").status == 400)
    let unknownFlow = try server.call("POST", "/v1/sessions", token: ada, body: #"{"flow":"x"}"#)
    #expect(unknownFlow.status == 422)
    #expect((unknownFlow.json["error"] as? [String: Any])?["field"] as? String == "flow")
    let actorField = try server.call(
      "POST", "/v1/sessions", token: ada, body: #"{"flow":"update-own-2fa-phone","actor":"tess"}"#
    )
    #expect(actorField.status == 422, "the actor is never a body field (SECURITY.md 29)")
    #expect((actorField.json["error"] as? [String: Any])?["field"] as? String == "actor")

    // 1. The own-number procedure.
    let started = try server.call(
      "POST", "/v1/sessions", token: ada, body: #"{"flow":"update-own-2fa-phone"}"#)
    #expect(started.status == 201, "\(started.body)")
    let id = try #require(started.json["id"] as? String)
    #expect(started.json["state"] as? String == "securityCenter")
    #expect(started.json["seq"] as? Int == 1)
    let path = "/v1/sessions/\(id)/events"

    // Another user cannot see or step it.
    let alan = try server.token("alan")
    #expect(try server.call("GET", "/v1/sessions/\(id)", token: alan).status == 404)
    #expect(try server.call("POST", path, token: alan, body: #"{"event":"cancel"}"#).status == 404)
    // The caller and the session are answered for before the request's own faults (an event
    // checks them in its step's transaction; a bad request checks them apart).
    #expect(try server.call("POST", path, token: alan, body: #"{"event":3}"#).status == 404)
    #expect(try server.call("POST", path, token: alan, body: "{oops").status == 404)
    let nobody = try server.token("nobody")
    for body in [#"{"event":"cancel"}"#, #"{"event":3}"#] {
      let answer = try server.call("POST", path, token: nobody, body: body)
      #expect(answer.status == 403, "\(body): \(answer.body)")
      let missing = try server.call(
        "POST", "/v1/sessions/\(String(repeating: "0", count: 32))/events", token: nobody,
        body: body)
      #expect(missing.status == 403, "\(body): \(missing.body)")
    }
    #expect(
      try server.call(
        "POST", "/v1/sessions/\(String(repeating: "0", count: 32))/events", token: ada,
        body: #"{"event":"cancel"}"#
      ).status == 404)

    // Out of order: 422 with the rejection, nothing changed.
    let early = try server.call("POST", path, token: ada, body: #"{"event":"save"}"#)
    #expect(early.status == 422)
    #expect((early.json["rejection"] as? [String: Any])?["kind"] as? String == "not-accepted")
    #expect(Self.session(early)["seq"] as? Int == 1)

    // An idempotent request: the same key and body replay the first answer, byte for byte.
    let key = "Idempotency-Key: disable-\(id)"
    let disable = try server.call(
      "POST", path, token: ada, body: #"{"event":"disable2FA","seq":1}"#, headers: [key])
    #expect(disable.status == 200, "\(disable.body)")
    let replay = try server.call(
      "POST", path, token: ada, body: #"{"event":"disable2FA","seq":1}"#, headers: [key])
    #expect(replay.status == 200 && replay.body == disable.body)
    let other = try server.call(
      "POST", path, token: ada, body: #"{"event":"cancel","seq":1}"#, headers: [key])
    #expect(other.status == 422)
    let shown = try server.call("GET", "/v1/sessions/\(id)", token: ada)
    #expect(shown.json["seq"] as? Int == 2, "the replay took no step")

    // A stale seq: 409 with the session as it is.
    let stale = try server.call("POST", path, token: ada, body: #"{"event":"cancel","seq":1}"#)
    #expect(stale.status == 409)
    #expect(Self.session(stale)["seq"] as? Int == 2)

    // A payload of the wrong type names its field.
    let badCode = try server.call(
      "POST", path, token: ada, body: #"{"event":"submitCode","payload":{"code":[1]}}"#)
    #expect(badCode.status == 422)
    #expect((badCode.json["error"] as? [String: Any])?["field"] as? String == "payload.code")

    let code = try Self.lastCode(server, ada, "+15550100001")
    let verified = try server.call(
      "POST", path, token: ada, body: #"{"event":"submitCode","payload":{"code":"\#(code)"}}"#)
    #expect(Self.session(verified)["state"] as? String == "editingPhone", "\(verified.body)")
    let edited = try server.call(
      "POST", path, token: ada,
      body: #"{"event":"editPhone","payload":{"phone":"+15550109999"}}"#)
    #expect(Self.session(edited)["state"] as? String == "phoneEdited")
    #expect(try server.call("POST", path, token: ada, body: #"{"event":"save"}"#).status == 200)
    #expect(
      try server.call("POST", path, token: ada, body: #"{"event":"enable2FA"}"#).status == 200)
    let newCode = try Self.lastCode(server, ada, "+15550109999")
    let done = try server.call(
      "POST", path, token: ada, body: #"{"event":"submitCode","payload":{"code":"\#(newCode)"}}"#)
    #expect(done.status == 200)
    #expect(Self.session(done)["outcome"] as? String == "completed")
    #expect(Self.session(done)["final"] as? Bool == true)
    // Ended: 410.
    #expect(try server.call("POST", path, token: ada, body: #"{"event":"cancel"}"#).status == 410)

    // 2. The team-member procedure: Ada changes Tess's number, with no code. A live view
    // follows it on the stream: one event per step, ending when the session ends.
    let team = try server.call(
      "POST", "/v1/sessions", token: ada,
      body: #"{"flow":"update-team-member-2fa-phone","target":"tess"}"#)
    #expect(team.status == 201, "\(team.body)")
    let teamID = try #require(team.json["id"] as? String)
    let teamPath = "/v1/sessions/\(teamID)/events"
    let live = Process()
    live.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    live.arguments = [
      "-s", "-N", "--max-time", "20", "-H", "Authorization: Bearer \(ada)",
      "http://127.0.0.1:\(server.port)/v1/sessions/\(teamID)/stream",
    ]
    let liveOut = Pipe()
    live.standardOutput = liveOut
    try live.run()
    Thread.sleep(forTimeInterval: 0.5)
    _ = try server.call(
      "POST", teamPath, token: ada,
      body: #"{"event":"editPhone","payload":{"phone":"+15550108888"}}"#)
    let saved = try server.call("POST", teamPath, token: ada, body: #"{"event":"save"}"#)
    #expect(Self.session(saved)["outcome"] as? String == "completed", "\(saved.body)")
    let streamed = String(
      decoding: liveOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    live.waitUntilExit()
    #expect(live.terminationStatus == 0, "the stream ends with the session: \(streamed)")
    #expect(streamed.contains("id: 1\nevent: session\n"))
    #expect(streamed.contains("id: 3\nevent: session\n"))
    #expect(streamed.contains(#""outcome":"completed""#))
    let notice = try server.call("GET", "/v1/dev/inbox/+15550100003", token: ada)
    let messages = notice.json["messages"] as? [[String: Any]] ?? []
    #expect(messages.count == 1)
    #expect(messages.first?["code"] == nil, "no code in the notice")
    #expect((messages.first?["body"] as? String)?.contains("+1******8888") == true)

    // Metrics, in Prometheus text.
    let metrics = try server.call("GET", "/metrics")
    #expect(metrics.status == 200)
    #expect(metrics.body.contains("flow_step_seconds_bucket"), "\(metrics.body)")
    #expect(metrics.body.contains(#"flow_rejections_total{kind="not-accepted"} 1"#))
    #expect(metrics.body.contains("flow_conflicts_total 1"))
    #expect(metrics.body.contains("flow_outbox_pending 0"))

    // SIGTERM: a clean exit.
    #expect(server.stop() == 0)
  }

  @Test("past the per-user rate, 429 with Retry-After; an expired token is 401")
  func limits() throws {
    let store = try SessionCommandTests.newStore()
    // One request every two seconds, bursts of one: the second request at once is refused,
    // however slowly this machine runs curl.
    let server = try Server(store: store, extra: ["--rate-per-user", "0.5"])
    defer { _ = server.stop() }
    let ada = try server.token("ada")
    #expect(try server.call("GET", "/v1/flows", token: ada).status == 200)
    let limited = try server.call("GET", "/v1/flows", token: ada)
    #expect(limited.status == 429)
    #expect(Int(limited.retryAfter) ?? 0 >= 1)
    let short = try server.token("alan", ttl: "1s")
    Thread.sleep(forTimeInterval: 2.1)
    #expect(try server.call("GET", "/v1/flows", token: short).status == 401)
  }

  @Test("an idempotent answer survives a restart, also the one that ended the session")
  func replaysSurviveRestart() throws {
    let store = try SessionCommandTests.newStore()
    var server = try Server(store: store)
    let before = try server.token("ada")
    let team = try server.call(
      "POST", "/v1/sessions", token: before,
      body: #"{"flow":"update-team-member-2fa-phone","target":"tess"}"#)
    let id = try #require(team.json["id"] as? String)
    let path = "/v1/sessions/\(id)/events"
    let edit = #"{"event":"editPhone","payload":{"phone":"+15550108888"},"seq":1}"#
    let first = try server.call(
      "POST", path, token: before, body: edit, headers: ["Idempotency-Key: e1"])
    #expect(first.status == 200, "\(first.body)")
    let save = try server.call(
      "POST", path, token: before, body: #"{"event":"save"}"#, headers: ["Idempotency-Key: s1"])
    #expect(Self.session(save)["outcome"] as? String == "completed")
    #expect(server.stop() == 0)

    // A new process on the same store: the keys' answers come back byte for byte.
    // (Each server here gets a new auth key, so a new token.)
    server = try Server(store: store)
    defer { _ = server.stop() }
    let ada = try server.token("ada")
    let again = try server.call(
      "POST", path, token: ada, body: edit, headers: ["Idempotency-Key: e1"])
    #expect(again.status == 200 && again.body == first.body)
    let saveAgain = try server.call(
      "POST", path, token: ada, body: #"{"event":"save"}"#, headers: ["Idempotency-Key: s1"])
    #expect(saveAgain.status == 200 && saveAgain.body == save.body, "not 410: the first answer")
    // Without a key, the ended session answers 410; a new key is a new request: 410 too.
    #expect(try server.call("POST", path, token: ada, body: #"{"event":"save"}"#).status == 410)
    #expect(
      try server.call(
        "POST", path, token: ada, body: #"{"event":"save"}"#, headers: ["Idempotency-Key: s2"]
      ).status == 410)
    // The same key with another request is refused, naming the header.
    let reused = try server.call(
      "POST", path, token: ada, body: #"{"event":"cancel"}"#, headers: ["Idempotency-Key: s1"])
    #expect(reused.status == 422)
    #expect((reused.json["error"] as? [String: Any])?["field"] as? String == "Idempotency-Key")
    let shown = try server.call("GET", "/v1/sessions/\(id)", token: ada)
    #expect(shown.json["seq"] as? Int == 3, "no replay took a step")
    // Tess was notified once, however often the save was replayed.
    let inbox = try server.call("GET", "/v1/dev/inbox/+15550100003", token: ada)
    #expect((inbox.json["messages"] as? [[String: Any]])?.count == 1)
  }

  @Test("a start sent again with its key answers the same session and starts no other")
  func keyedStart() throws {
    let store = try SessionCommandTests.newStore()
    var server = try Server(store: store)
    let ada = try server.token("ada")
    let body = #"{"flow":"update-team-member-2fa-phone","target":"tess"}"#
    let first = try server.call(
      "POST", "/v1/sessions", token: ada, body: body, headers: ["Idempotency-Key: start-1"])
    #expect(first.status == 201, "\(first.body)")
    let id = try #require(first.json["id"] as? String)
    let again = try server.call(
      "POST", "/v1/sessions", token: ada, body: body, headers: ["Idempotency-Key: start-1"])
    #expect(again.status == 201 && again.body == first.body, "the first answer, byte for byte")
    // Another request under that key (or an event's key) is refused, naming the header.
    let other = try server.call(
      "POST", "/v1/sessions", token: ada,
      body: #"{"flow":"update-team-member-2fa-phone","target":"mia"}"#,
      headers: ["Idempotency-Key: start-1"])
    #expect(other.status == 422)
    #expect((other.json["error"] as? [String: Any])?["field"] as? String == "Idempotency-Key")
    let event = try server.call(
      "POST", "/v1/sessions/\(id)/events", token: ada, body: #"{"event":"cancel"}"#,
      headers: ["Idempotency-Key: start-1"])
    #expect(event.status == 422)
    #expect(server.stop() == 0)

    // After a restart the key still answers the same session; without a key, a new one.
    server = try Server(store: store)
    defer { _ = server.stop() }
    let later = try server.token("ada")
    let replayed = try server.call(
      "POST", "/v1/sessions", token: later, body: body, headers: ["Idempotency-Key: start-1"])
    #expect(replayed.status == 201 && replayed.json["id"] as? String == id)
    let fresh = try server.call("POST", "/v1/sessions", token: later, body: body)
    #expect(fresh.status == 201 && fresh.json["id"] as? String != id)
    // Exactly two sessions were started: one per request that was not a replay.
    let audit = try Flowctl.run(["store", "audit", store])
    let starts = audit.stdout.split(separator: "\n").filter { $0.contains("(start):") }
    #expect(starts.count == 2, "\(audit.stdout)")
  }

  @Test("a live view shows rejections too; SIGTERM ends open streams and the server exits at once")
  func streamsEndOnShutdown() throws {
    let store = try SessionCommandTests.newStore()
    let server = try Server(store: store)
    let ada = try server.token("ada")
    // The page, its icon, and 405 for a known path's other methods.
    let page = try server.call("GET", "/")
    #expect(page.status == 200 && page.body.lowercased().contains("<!doctype html>"))
    #expect(try server.call("GET", "/favicon.ico").status == 204)
    #expect(try server.call("DELETE", "/v1/flows", token: ada).status == 405)
    let started = try server.call(
      "POST", "/v1/sessions", token: ada, body: #"{"flow":"update-own-2fa-phone"}"#)
    let id = try #require(started.json["id"] as? String)
    let live = Process()
    live.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    live.arguments = [
      "-s", "-N", "--max-time", "30", "-H", "Authorization: Bearer \(ada)",
      "http://127.0.0.1:\(server.port)/v1/sessions/\(id)/stream",
    ]
    let liveOut = Pipe()
    live.standardOutput = liveOut
    try live.run()
    Thread.sleep(forTimeInterval: 0.5)
    // A rejected event changes no seq, but it is audited, and the live view shows it.
    let early = try server.call(
      "POST", "/v1/sessions/\(id)/events", token: ada, body: #"{"event":"save"}"#)
    #expect(early.status == 422)
    Thread.sleep(forTimeInterval: 0.6)
    let began = Date()
    #expect(server.stop() == 0)
    #expect(Date().timeIntervalSince(began) < 5, "an open stream does not hold the server")
    let streamed = String(
      decoding: liveOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    live.waitUntilExit()
    #expect(live.terminationStatus == 0, "the stream ended cleanly: \(streamed)")
    #expect(streamed.contains("event: trace"))
    #expect(streamed.contains(#""kind":"event-rejected""#), "\(streamed)")
  }

  /// A small flow whose waiting state times out after `after`; `title` tells versions apart.
  static func timedFlow(version: Int, after: String = "2s") -> String {
    """
    flow: wait-a-moment
    version: \(version)
    title: Wait a moment (v\(version))
    context: { actor: user, target: user }
    events:
      go: {}
    start: waiting
    states:
      waiting:
        on:
          go: done
        after:
          - in: \(after)
            to: timedOut
      done:
        final: true
        outcome: completed
      timedOut:
        final: true
        outcome: expired
    """
  }

  @Test("a due timer fires in the background, with no request; the session ends expired")
  func timersFire() throws {
    let store = try SessionCommandTests.newStore()
    let folder = URL(fileURLWithPath: store).deletingLastPathComponent().appendingPathComponent(
      "flows")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try Data(Self.timedFlow(version: 1).utf8).write(
      to: folder.appendingPathComponent("wait.yaml"))
    let server = try Server(store: store, flows: folder.path)
    defer { _ = server.stop() }
    let ada = try server.token("ada")
    let started = try server.call(
      "POST", "/v1/sessions", token: ada, body: #"{"flow":"wait-a-moment"}"#)
    #expect(started.status == 201, "\(started.body)")
    let id = try #require(started.json["id"] as? String)
    Thread.sleep(forTimeInterval: 4)
    let shown = try server.call("GET", "/v1/sessions/\(id)", token: ada)
    #expect(shown.json["state"] as? String == "timedOut", "\(shown.body)")
    #expect(shown.json["outcome"] as? String == "expired")
  }

  @Test(
    "a changed flow file serves new sessions; running ones keep their text; a bad one is refused")
  func flowsReload() throws {
    let store = try SessionCommandTests.newStore()
    let folder = URL(fileURLWithPath: store).deletingLastPathComponent().appendingPathComponent(
      "flows")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let file = folder.appendingPathComponent("wait.yaml")
    try Data(Self.timedFlow(version: 1, after: "1h").utf8).write(to: file)
    let server = try Server(store: store, flows: folder.path)
    defer { _ = server.stop() }
    let ada = try server.token("ada")
    let body = #"{"flow":"wait-a-moment"}"#
    let first = try server.call("POST", "/v1/sessions", token: ada, body: body)
    #expect(first.json["version"] as? Int == 1)
    // A new text (its modification time moves on).
    Thread.sleep(forTimeInterval: 1.1)
    try Data(Self.timedFlow(version: 2, after: "1h").utf8).write(to: file)
    let second = try server.call("POST", "/v1/sessions", token: ada, body: body)
    #expect(second.json["version"] as? Int == 2, "\(second.body)")
    let old = try #require(first.json["id"] as? String)
    let again = try server.call("GET", "/v1/sessions/\(old)", token: ada)
    #expect(again.json["version"] as? Int == 1, "the running session keeps its text")
    // A file that does not validate: refused in the log, version 2 keeps serving.
    Thread.sleep(forTimeInterval: 1.1)
    try Data(
      Self.timedFlow(version: 3, after: "1h").replacingOccurrences(
        of: "to: timedOut", with: "to: timedOot"
      ).utf8
    ).write(to: file)
    let third = try server.call("POST", "/v1/sessions", token: ada, body: body)
    #expect(third.json["version"] as? Int == 2)
    let log = try String(contentsOf: server.stderr, encoding: .utf8)
    #expect(log.contains("flow file refused"))
    #expect(log.contains("unknown state 'timedOot'"))
    let stepped = try server.call(
      "POST", "/v1/sessions/\(old)/events", token: ada, body: #"{"event":"go"}"#)
    #expect(ServeTests.session(stepped)["outcome"] as? String == "completed")
  }
}
