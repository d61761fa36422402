import AccountSecurity
import ArgumentParser
import FlowEngine
import FlowService
import Foundation
import Hummingbird
import Logging
import Metrics
import PostgresStore
import Prometheus
import SQLiteStore
import ServiceLifecycle

/// `flowctl serve`: the HTTP API web apps call, on a store.
struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve a store's sessions over HTTP: the JSON API web apps call.",
    discussion: """
      Runs sessions of the flows in --flows (every *.yaml file, read again when
      it changes: new sessions get the new text, running ones keep theirs, and a
      file that does not validate is refused in the log while its previous text
      keeps serving). Callers send `Authorization: Bearer TOKEN`, a JWT (HS256)
      signed with --auth-key whose `sub` is their user id (flowctl token mints
      one). The API is described in schemas/openapi.yaml.

      Deliveries: on a dry-run store without endpoints, messages land in the
      simulated inbox (GET /v1/dev/inbox/DESTINATION). With --sms-endpoint and
      --email-endpoint (needed on a live store, flowctl store init --live), each
      message is POSTed as JSON {key, channel, to, subject, body} with the headers
      Idempotency-Key (the same on every retry: drop duplicates by it),
      X-Flow-Timestamp and X-Flow-Signature (sha256= and the hex HMAC-SHA256 of
      "TIMESTAMP." followed by the body, keyed with --provider-key). A failure or
      a timeout is audited and retried after --delivery-backoff, doubling; after
      --delivery-attempts it is given up and audited. A 2xx answer is delivery.

      The page at / shows the flows with their diagrams and runs sessions live;
      on a dry-run store it signs in as any user of the store (a demo).

      GET /metrics exports Prometheus text: flow_step_seconds (a histogram),
      flow_steps_total, flow_rejections_total by kind, flow_conflicts_total,
      flow_outbox_pending, flow_outbox_lag_seconds and
      flow_delivery_failures_total. Due timers (`after`, `deadline`) fire in the background, within about a
      second of falling due. Prints `listening on http://HOST:PORT` once it
      accepts connections (with
      --listen 127.0.0.1:0 the port is the one the system chose). SIGTERM or
      SIGINT stops accepting, lets the steps in flight finish, and exits 0.

      Example (a dry-run store; codes are read off GET /v1/dev/inbox/…):
        flowctl store init build/team.sqlite --world examples/team.yaml
        head -c 32 /dev/urandom | base64 > build/auth.key
        flowctl serve --store build/team.sqlite --flows flows --auth-key build/auth.key &
        token=$(flowctl token ada --auth-key build/auth.key)
        curl -s -H "Authorization: Bearer $token" localhost:8080/v1/flows
      """
  )

  @OptionGroup var store: StoreOptions

  @Option(help: ArgumentHelp("The folder of flow files to serve.", valueName: "DIR"))
  var flows: String

  @Option(
    help: ArgumentHelp(
      "Where to listen (loopback by default; port 0 picks a free one).", valueName: "HOST:PORT"))
  var listen: String = "127.0.0.1:8080"

  @Option(
    name: .customLong("auth-key"),
    help: ArgumentHelp("The file holding the key tokens are signed with.", valueName: "FILE"))
  var authKey: String

  @Option(
    name: .customLong("rate-per-user"),
    help: "Requests a second one user may make (bursts of twice that).")
  var ratePerUser: Double = 20

  @Option(
    name: .customLong("rate-per-address"),
    help: "Requests a second one client address may make (bursts of twice that).")
  var ratePerAddress: Double = 200

  @Option(
    name: .customLong("sms-endpoint"),
    help: ArgumentHelp(
      "The SMS provider's URL: each text is POSTed there as signed JSON.", valueName: "URL"))
  var smsEndpoint: String?

  @Option(
    name: .customLong("email-endpoint"),
    help: ArgumentHelp(
      "The email provider's URL: each email is POSTed there as signed JSON.", valueName: "URL"))
  var emailEndpoint: String?

  @Option(
    name: .customLong("provider-key"),
    help: ArgumentHelp(
      "The file holding the key deliveries are signed with (HMAC-SHA256).", valueName: "FILE"))
  var providerKey: String?

  @Option(
    name: .customLong("delivery-attempts"),
    help: "How many times a delivery is tried before it is given up (and audited).")
  var deliveryAttempts: Int = 8

  @Option(
    name: .customLong("delivery-backoff"),
    help: ArgumentHelp(
      "The wait after a failed delivery, doubling after each (at most 10m).",
      valueName: "DURATION"))
  var deliveryBackoff: String = "2s"

  @Option(
    name: .customLong("delivery-timeout"),
    help: ArgumentHelp(
      "How long one delivery may take before it counts as failed.", valueName: "DURATION"))
  var deliveryTimeout: String = "10s"

  func validate() throws {
    guard let (_, port) = Self.split(listen), (0...65535).contains(port) else {
      throw ValidationError("--listen must be HOST:PORT, such as 127.0.0.1:8080; got '\(listen)'")
    }
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: flows, isDirectory: &isFolder), isFolder.boolValue
    else {
      throw ValidationError("--flows must be a folder of flow files; '\(flows)' is not one")
    }
    for (flag, value) in [("--sms-endpoint", smsEndpoint), ("--email-endpoint", emailEndpoint)] {
      guard let value else { continue }
      guard let url = URL(string: value), ["http", "https"].contains(url.scheme ?? ""),
        url.host != nil
      else {
        throw ValidationError("\(flag) must be an http or https URL; got '\(value)'")
      }
    }
    if (smsEndpoint != nil || emailEndpoint != nil) && providerKey == nil {
      throw ValidationError("--provider-key is needed to sign deliveries to the endpoints")
    }
    guard (1...100).contains(deliveryAttempts) else {
      throw ValidationError("--delivery-attempts must be from 1 to 100; got \(deliveryAttempts)")
    }
    for (flag, value) in [("--delivery-backoff", deliveryBackoff)] {
      guard let seconds = Value.parseDuration(value), seconds >= 1 else {
        throw ValidationError(
          "\(flag) must be a duration of 1s or more, such as 2s; got '\(value)'")
      }
    }
    guard Self.milliseconds(deliveryTimeout) != nil else {
      throw ValidationError(
        "--delivery-timeout must be a duration such as 10s or 500ms; got '\(deliveryTimeout)'")
    }
  }

  /// A duration in milliseconds: `500ms`, or any duration flows accept (`10s`, `1m`).
  static func milliseconds(_ text: String) -> Int64? {
    if text.hasSuffix("ms"), let value = Int64(text.dropLast(2)), value > 0 { return value }
    guard let seconds = Value.parseDuration(text), seconds > 0 else { return nil }
    return Int64(seconds) * 1000
  }

  static func split(_ address: String) -> (String, Int)? {
    guard let colon = address.lastIndex(of: ":"),
      let port = Int(address[address.index(after: colon)...])
    else { return nil }
    return (String(address[..<colon]), port)
  }

  func run() async throws {
    Verbosity.verbose.withLock { $0 = true }
    let logger = Logger(label: "flowctl.serve")
    let registry = PrometheusCollectorRegistry()
    var factory = PrometheusMetricsFactory(registry: registry)
    factory.defaultDurationHistogramBuckets = [
      .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
      .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
      .milliseconds(250), .seconds(1),
    ]
    MetricsSystem.bootstrap(factory)
    let opened = try await store.open()
    let tokens: Tokens
    do {
      tokens = try await Tokens(key: try Tokens.readKey(at: authKey))
    } catch {
      Terminal.writeError("error: \(error)\n")
      throw ExitCode(1)
    }
    let directory = FlowDirectory(
      folder: flows, catalog: AccountSecurityCatalog.catalog, logger: logger)
    let offered = await directory.flows()
    if offered.isEmpty {
      logger.warning("no valid flow in the folder yet", metadata: ["folder": "\(flows)"])
    }
    var provider: HTTPDeliveryProvider?
    if smsEndpoint != nil || emailEndpoint != nil {
      guard let providerKey, let signing = FileManager.default.contents(atPath: providerKey),
        signing.count >= 32
      else {
        Terminal.writeError(
          "error: cannot read the provider key file \(providerKey ?? ""), or it holds fewer than 32 bytes\n"
        )
        throw ExitCode(1)
      }
      var endpoints: [OutboundMessage.Channel: String] = [:]
      endpoints[.sms] = smsEndpoint
      endpoints[.email] = emailEndpoint
      provider = HTTPDeliveryProvider(
        endpoints: endpoints, key: Array(signing),
        timeoutMilliseconds: Self.milliseconds(deliveryTimeout) ?? 10_000)
    } else if opened.kind == .live {
      Terminal.writeError(
        "error: \(opened.location) is a live store: its messages go to real providers; give --sms-endpoint, --email-endpoint and --provider-key\n"
      )
      throw ExitCode(64)
    }
    let api = FlowAPI(
      store: opened, flows: directory, tokens: tokens, userRate: ratePerUser,
      addressRate: ratePerAddress, logger: logger, registry: registry, provider: provider,
      retry: DeliveryRetry(
        attempts: deliveryAttempts, backoff: Value.parseDuration(deliveryBackoff) ?? 2))
    guard let (host, port) = Self.split(listen) else { throw ExitCode(64) }
    let app = Application(
      router: api.router(),
      configuration: .init(address: .hostname(host, port: port), serverName: "flowctl"),
      onServerRunning: { channel in
        let bound = channel.localAddress?.port ?? port
        print("listening on http://\(host):\(bound)")
        Terminal.flush()
      },
      logger: logger)
    // The timers fire and the outbox is dispatched beside the server. On SIGTERM or SIGINT the
    // service group shuts its services down in reverse order: first the background work
    // (timers stop, live views end: an open stream would hold the server), then the server,
    // which stops accepting and lets the requests in flight finish.
    let group = ServiceGroup(
      configuration: .init(
        services: [app, Background(api: api)], gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
    if let database = opened as? PostgresStore { await database.close() }
    await provider?.shutdown()
  }
}

/// The service's work beside the server: timers and the outbox dispatcher, until the service
/// shuts down; then the live views are ended.
struct Background: Service {
  let api: FlowAPI

  func run() async throws {
    await withGracefulShutdownHandler {
      // Cancelled when the shutdown begins (the loops stop at their next turn).
      await cancelWhenGracefulShutdown {
        await withTaskGroup(of: Void.self) { work in
          work.addTask { await api.runTimers() }
          work.addTask { await api.runDeliveries() }
        }
      }
    } onGracefulShutdown: {
      api.endStreams()
    }
  }
}

/// `flowctl token`: a bearer token for the API.
struct TokenCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "token",
    abstract: "Mint a bearer token for a user of flowctl serve.",
    discussion: """
      Prints a JWT (HS256) signed with the key file, whose `sub` is USER and
      whose `exp` is --ttl from now. flowctl serve accepts it until then.

      Example:
        flowctl token ada --auth-key build/auth.key --ttl 1h
      """
  )

  @Argument(help: "The user id the token names.")
  var user: String

  @Option(
    name: .customLong("auth-key"),
    help: ArgumentHelp("The file holding the signing key.", valueName: "FILE"))
  var authKey: String

  @Option(help: ArgumentHelp("How long the token is valid.", valueName: "DURATION"))
  var ttl: String = "15m"

  func run() async throws {
    guard let seconds = Value.parseDuration(ttl), seconds > 0 else {
      Terminal.writeError("error: --ttl must be a duration such as 15m or 1h; got '\(ttl)'\n")
      throw ExitCode(64)
    }
    do {
      let tokens = try await Tokens(key: try Tokens.readKey(at: authKey))
      print(try await tokens.mint(user: user, ttl: seconds))
    } catch {
      Terminal.writeError("error: \(error)\n")
      throw ExitCode(1)
    }
  }
}
