import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

/// `flowctl serve` on a live store delivers to SMS and email providers over HTTP. A fake
/// provider on loopback fails, times out (after taking the message: its answer is lost, so the
/// message comes twice) and answers; another always fails. Every request is signed, carries
/// the delivery's key, and keeps the code out of the URL and the log (SECURITY.md 32, 33).
@Suite("flowctl serve: deliveries to providers", .serialized)
struct DeliveryTests {
  /// One request as the fake provider received it.
  struct Received: Sendable {
    var path: String
    var key: String
    var timestamp: String
    var signature: String
    var body: [UInt8]
    var answered: Int

    var json: [String: Any] {
      (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }
  }

  /// What the fake provider received, in order.
  final class Log: Sendable {
    private let entries = Mutex<[Received]>([])

    var all: [Received] { entries.withLock { $0 } }

    /// Appends; how many times its key has been received, this one included.
    func append(_ received: Received) -> Int {
      entries.withLock { entries in
        entries.append(received)
        return entries.filter { $0.key == received.key }.count
      }
    }
  }

  /// The fake provider: `/sms` answers a message's first try 503, delays its second past the
  /// service's timeout and then answers 200, and answers 200 after that; `/email` always
  /// answers 500.
  static func provider(_ log: Log) -> Application<RouterResponder<BasicRequestContext>> {
    let router = Router()
    router.post("/sms") { request, _ -> HTTPResponse.Status in
      let received = try await Self.record(request, log, path: "/sms")
      switch received {
      case 1: return .serviceUnavailable
      case 2:
        try await Task.sleep(for: .seconds(5))
        return .ok
      default: return .ok
      }
    }
    router.post("/email") { request, _ -> HTTPResponse.Status in
      _ = try await Self.record(request, log, path: "/email")
      return .internalServerError
    }
    return Application(
      router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
  }

  /// Records a request; how many times its key has been received, this one included.
  static func record(_ request: Request, _ log: Log, path: String) async throws
    -> Int
  {
    let body = try await request.body.collect(upTo: 64 * 1024)
    let received = Received(
      path: path + (request.uri.query.map { "?" + $0 } ?? ""),
      key: request.headers[HTTPField.Name("Idempotency-Key")!] ?? "",
      timestamp: request.headers[HTTPField.Name("X-Flow-Timestamp")!] ?? "",
      signature: request.headers[HTTPField.Name("X-Flow-Signature")!] ?? "",
      body: Array(body.readableBytesView), answered: 0)
    return log.append(received)
  }

  static func hmac(_ received: Received, key: [UInt8]) -> String {
    var mac = HMAC<SHA256>(key: SymmetricKey(data: key))
    mac.update(data: Array("\(received.timestamp).".utf8))
    mac.update(data: received.body)
    return "sha256="
      + mac.finalize().map { byte in
        (byte < 16 ? "0" : "") + String(byte, radix: 16)
      }.joined()
  }

  static func waitFor(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
      if try condition() { return true }
      Thread.sleep(forTimeInterval: 0.2)
    }
    return try condition()
  }

  @Test(
    "retries, timeouts and duplicates: delivered once by key, signed, audited; given up after the last try"
  )
  func deliveries() async throws {
    let log = Log()
    try await Self.provider(log).test(.live) { client in
      let port = try #require(client.port)
      try Self.run(port: port, log: log)
    }
  }

  static func run(port: Int, log: Log) throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let store = folder.appendingPathComponent("live.sqlite").path
    let made = try Flowctl.run(["store", "init", store, "--world", "examples/team.yaml", "--live"])
    #expect(made.status == 0, "\(made.stderr)")
    #expect(made.stdout.hasPrefix("created live store \(store):"))
    let providerKey = Array((0..<32).map { _ in UInt8.random(in: 0...255) })
    let keyFile = folder.appendingPathComponent("provider.key")
    try Data(providerKey).write(to: keyFile)

    // A live store with no provider is refused: its messages would go nowhere.
    let refused = try Flowctl.run([
      "serve", "--store", store, "--flows", "flows", "--auth-key", keyFile.path, "--listen",
      "127.0.0.1:0",
    ])
    #expect(refused.status == 64)
    #expect(refused.stderr.contains("is a live store"), "\(refused.stderr)")

    let server = try ServeTests.Server(
      store: store,
      extra: [
        "--sms-endpoint", "http://127.0.0.1:\(port)/sms", "--email-endpoint",
        "http://127.0.0.1:\(port)/email", "--provider-key", keyFile.path,
        "--delivery-attempts", "4", "--delivery-backoff", "1s", "--delivery-timeout", "2s",
      ])
    defer { _ = server.stop() }
    let ada = try server.token("ada")
    // The demo routes and the inbox exist on dry-run stores only.
    #expect(try server.call("GET", "/v1/dev/users").status == 404)
    #expect(try server.call("GET", "/v1/dev/inbox/+15550100001", token: ada).status == 404)

    // 1. A code to Ada's number: 503, then a timeout (the provider took it), then 200.
    let started = try server.call(
      "POST", "/v1/sessions", token: ada, body: #"{"flow":"update-own-2fa-phone"}"#)
    let id = try #require(started.json["id"] as? String)
    let path = "/v1/sessions/\(id)/events"
    #expect(
      try server.call("POST", path, token: ada, body: #"{"event":"disable2FA"}"#).status == 200)
    let sms = { log.all.filter { $0.path == "/sms" } }
    #expect(Self.waitFor(20) { sms().count >= 3 }, "three tries: \(sms().map(\.key))")
    let tries = sms()
    #expect(Set(tries.map(\.key)).count == 1, "one message, one key")
    #expect(Set(tries.map(\.body)).count == 1, "the same body every time")
    let first = try #require(tries.first)
    #expect(first.json["key"] as? String == first.key)
    #expect(first.json["to"] as? String == "+15550100001")
    #expect(first.json["channel"] as? String == "sms")
    for received in tries {
      #expect(received.signature == Self.hmac(received, key: providerKey), "signed")
    }
    let text = try #require(first.json["body"] as? String)
    let digits = text.split(whereSeparator: { !$0.isNumber }).first { $0.count == 6 }
    let code = String(try #require(digits))
    #expect(!first.path.contains(code), "no code in the URL")

    // The code works: the delivery was real.
    let verified = try server.call(
      "POST", path, token: ada, body: #"{"event":"submitCode","payload":{"code":"\#(code)"}}"#)
    #expect(ServeTests.session(verified)["state"] as? String == "editingPhone", "\(verified.body)")

    // 2. The team procedure notifies Tess by SMS and by email; the email provider always
    // fails, so that delivery is given up after four tries, and every failure is audited.
    let team = try server.call(
      "POST", "/v1/sessions", token: ada,
      body: #"{"flow":"update-team-member-2fa-phone","target":"tess"}"#)
    let teamID = try #require(team.json["id"] as? String)
    _ = try server.call(
      "POST", "/v1/sessions/\(teamID)/events", token: ada,
      body: #"{"event":"editPhone","payload":{"phone":"+15550108888"}}"#)
    let saved = try server.call(
      "POST", "/v1/sessions/\(teamID)/events", token: ada, body: #"{"event":"save"}"#)
    #expect(ServeTests.session(saved)["outcome"] as? String == "completed", "\(saved.body)")
    let audit = {
      try Flowctl.run(["store", "audit", store, "--session", teamID]).stdout
    }
    let failures = {
      try audit().split(separator: "\n").filter { $0.contains(" delivery-failed ") }
    }
    let given = try Self.waitFor(40) {
      try failures().contains { $0.contains("email to") && $0.contains("given-up") }
    }
    let failed = try failures()
    #expect(given, "\(failed)")
    let emails = log.all.filter { $0.path == "/email" }
    #expect(emails.count == 4, "given up after the fourth try")
    #expect(failed.filter { $0.contains("email to") }.count == 4, "\(failed)")
    // The SMS to Tess's old number: a 503, then a timeout (on a busy machine perhaps another),
    // then delivered: never given up.
    let smsFailures = failed.filter { $0.contains("sms to") }
    #expect(smsFailures.count >= 2 && smsFailures.count < 4, "\(smsFailures)")
    #expect(failed.filter { $0.contains("given-up") }.count == 1)
    let ownAudit = try Flowctl.run(["store", "audit", store, "--session", id]).stdout
    #expect(ownAudit.components(separatedBy: "delivery-failed").count - 1 >= 2, "\(ownAudit)")
    #expect(!ownAudit.contains("given-up"), "the code was delivered")
    #expect(!ownAudit.contains(code))

    // Metrics count the failures; nothing is pending any more.
    #expect(
      Self.waitFor(10) {
        ((try? server.call("GET", "/metrics").body) ?? "").contains("flow_outbox_pending 0")
      })
    #expect(server.stop() == 0)
    let serveLog = try String(contentsOf: server.stderr, encoding: .utf8)
    #expect(!serveLog.contains(code), "no code in the log")
  }
}
