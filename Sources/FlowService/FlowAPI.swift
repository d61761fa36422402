public import AccountSecurity
internal import Crypto
public import FlowEngine
internal import Foundation
internal import HTTPTypes
public import Hummingbird
public import Logging
internal import Metrics
internal import NIOCore
public import Prometheus
internal import Synchronization

/// The request context of the API: Hummingbird's, plus the client's address (for rate limits).
public struct APIContext: RequestContext {
  public var coreContext: CoreRequestContextStorage
  public let clientAddress: String

  public init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
  }
}

/// The JSON API web apps call (`schemas/openapi.yaml`): flows, sessions and their events. The
/// caller is always the bearer token's user, never a field of a body (SECURITY.md 15, 29); a
/// session is visible only to its actor (24); a bad request is a 4xx that names the field.
public struct FlowAPI: Sendable {
  public let store: any DurableStore
  public let engine: SessionEngine
  public let flows: FlowDirectory
  public let tokens: Tokens
  let logger: Logger
  /// What `GET /metrics` prints (swift-metrics, bootstrapped with this registry's factory).
  let registry: PrometheusCollectorRegistry
  let limiter: RateLimiter
  /// The live views open now, ended together when the service shuts down.
  let streams = LiveStreams()
  /// Where deliveries go: real providers, or nil for a dry-run store's simulated inbox.
  let provider: (any DeliveryProvider)?
  let retry: DeliveryRetry
  static let idempotencyKey = HTTPField.Name("Idempotency-Key")
  /// The largest request body read, in bytes.
  static let maxBody = 64 * 1024

  public init(
    store: any DurableStore, flows: FlowDirectory, tokens: Tokens, userRate: Double = 20,
    addressRate: Double = 200, logger: Logger = Logger(label: "flowservice"),
    registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    provider: (any DeliveryProvider)? = nil, retry: DeliveryRetry = .init()
  ) {
    self.store = store
    self.logger = logger
    self.registry = registry
    self.engine = SessionEngine(
      store: store, catalog: AccountSecurityCatalog.catalog, clock: store.clock)
    self.flows = flows
    self.tokens = tokens
    self.limiter = RateLimiter(userRate: userRate, addressRate: addressRate)
    self.provider = provider
    self.retry = retry
  }

  /// The routes, on a new router.
  public func router() -> Router<APIContext> {
    let router = Router(context: APIContext.self)
    router.addMiddleware { MethodNotAllowed() }
    router.get("/") { _, _ in
      Response(
        status: .ok,
        headers: [
          .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
          .contentSecurityPolicy:
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        ],
        body: ResponseBody(byteBuffer: ByteBuffer(string: Page.html)))
    }
    router.get("/favicon.ico") { _, _ in Response(status: .noContent) }
    router.get("/healthz") { _, _ in Self.json(.ok, ["status": "ok"]) }
    router.get("/metrics") { _, _ in
      if let pending = try? await store.pendingDeliveries() {
        Gauge(label: "flow_outbox_pending").record(pending)
      }
      if let lag = try? await store.outboxLag() {
        Gauge(label: "flow_outbox_lag_seconds").record(lag)
      }
      return Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
    router.get("/v1/flows") { request, context in
      try await self.guarded(request, context) { _ in
        let list = await flows.flows().values.map(\.flow).sorted { $0.id < $1.id }
        return Self.json(.ok, ["flows": list.map(Self.flowObject)])
      }
    }
    router.get("/v1/flows/:flow") { request, context in
      try await self.guarded(request, context) { _ in
        let id = Self.parameter("flow", context)
        guard let flow = await flows.flow(id) else {
          return Self.problem(.notFound, "no flow '\(id)'", field: nil)
        }
        return Self.json(.ok, Self.flowObject(flow))
      }
    }
    router.post("/v1/sessions") { request, context in
      try await self.guarded(request, context) { user in
        try await self.start(request, context, user: user)
      }
    }
    router.get("/v1/sessions/:id") { request, context in
      try await self.guarded(request, context) { user in
        guard let (_, session, flow) = try await self.visible(context, user: user) else {
          return Self.notFound(context)
        }
        return Self.json(.ok, Self.sessionObject(session, flow))
      }
    }
    router.post("/v1/sessions/:id/events") { request, context in
      // The caller is checked in the step's own transaction (one trip to the store).
      try await self.guarded(request, context, checksCaller: false) { user in
        try await self.send(request, context, user: user)
      }
    }
    router.get("/v1/sessions/:id/stream") { request, context in
      try await self.guarded(request, context) { user in
        guard let (_, session, _) = try await self.visible(context, user: user) else {
          return Self.notFound(context)
        }
        return Response(
          status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
          body: ResponseBody(asyncSequence: self.stream(session.id)))
      }
    }
    // A demo on a dry-run store: anyone may sign in as any of its users (the page at `/`).
    router.get("/v1/dev/users") { _, context in
      try await self.demo(context) {
        let users = try await store.users()
        return Self.json(
          .ok,
          [
            "users": users.map {
              ["id": $0.id, "name": $0.name, "role": $0.role.rawValue, "account": $0.account]
            }
          ])
      }
    }
    router.post("/v1/dev/token") { request, context in
      try await self.demo(context) {
        let body: [String: JSONValue]
        switch try await Self.object(request, context, keys: ["user"]) {
        case .success(let object): body = object
        case .failure(let problem): return problem.response
        }
        guard case .string(let id)? = body["user"], !id.isEmpty else {
          return Self.problem(.unprocessableContent, "'user' is required: a user id", field: "user")
        }
        guard try await store.user(id) != nil else {
          return Self.problem(.unprocessableContent, "unknown user '\(id)'", field: "user")
        }
        let ttl = 3600
        let token = try await tokens.mint(user: id, ttl: ttl)
        return Self.json(
          .ok,
          [
            "token": token,
            "expiresAt": AuditTime.iso8601(Int(Date().timeIntervalSince1970) + ttl),
          ])
      }
    }
    router.get("/v1/dev/inbox/:destination") { request, context in
      try await self.guarded(request, context) { _ in
        guard store.kind == .dryRun else {
          return Self.problem(.notFound, "the inbox exists on dry-run stores only", field: nil)
        }
        let destination = Self.parameter("destination", context)
        let messages = try await store.inbox(of: destination)
        return Self.json(
          .ok,
          [
            "destination": destination,
            "messages": messages.map { message -> [String: Any] in
              var object: [String: Any] = [
                "channel": message.channel.rawValue, "body": message.body,
                "sentAt": AuditTime.iso8601(message.sentAt), "key": message.key,
              ]
              if let subject = message.subject { object["subject"] = subject }
              if let code = message.code { object["code"] = code }
              return object
            },
          ])
      }
    }
    return router
  }

  /// Every path the API serves, with its methods.
  static let routes: [(String, [HTTPRequest.Method])] = [
    ("/", [.get]), ("/favicon.ico", [.get]), ("/healthz", [.get]), ("/metrics", [.get]),
    ("/v1/flows", [.get]),
    ("/v1/flows/:flow", [.get]), ("/v1/sessions", [.post]), ("/v1/sessions/:id", [.get]),
    ("/v1/sessions/:id/events", [.post]), ("/v1/sessions/:id/stream", [.get]),
    ("/v1/dev/users", [.get]), ("/v1/dev/token", [.post]),
    ("/v1/dev/inbox/:destination", [.get]),
  ]

  /// The methods `path` is served with, if it is a path of the API.
  static func methods(of path: String) -> [HTTPRequest.Method]? {
    let segments = path.split(separator: "/", omittingEmptySubsequences: false)
    return routes.first { route, _ in
      let pattern = route.split(separator: "/", omittingEmptySubsequences: false)
      return pattern.count == segments.count
        && zip(pattern, segments).allSatisfy { $0.hasPrefix(":") ? !$1.isEmpty : $0 == $1 }
    }?.1
  }

  // MARK: - Who is calling

  /// The demo routes: on a dry-run store only (404 elsewhere), rate-limited per address.
  func demo(_ context: APIContext, _ body: () async throws -> Response) async throws -> Response {
    if let wait = limiter.admit(user: "", address: context.clientAddress) {
      var response = Self.problem(
        .tooManyRequests, "too many requests; retry in \(wait) s", field: nil)
      response.headers[.retryAfter] = String(wait)
      return response
    }
    guard store.kind == .dryRun else {
      return Self.problem(.notFound, "the demo routes exist on dry-run stores only", field: nil)
    }
    do {
      return try await body()
    } catch let error as StoreError {
      context.logger.error("store error", metadata: ["error": "\(error)"])
      return Self.problem(.serviceUnavailable, "the store is unavailable; retry", field: nil)
    }
  }

  /// Authenticates and rate-limits, then runs `body` for the token's user: 401 without a
  /// valid token, 403 for a user the store does not know, 429 past a limit. Failures of the
  /// store are 503, never a crash.
  ///
  /// A route that checks the caller itself (with `checksCaller: false`, in the same
  /// transaction as its work) answers the same 403 by throwing `SessionEngine.Refusal`.
  func guarded(
    _ request: Request, _ context: APIContext, checksCaller: Bool = true,
    _ body: (String) async throws -> Response
  ) async throws -> Response {
    guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
      let user = await tokens.user(of: String(header.dropFirst(7)))
    else {
      var response = Self.problem(
        .unauthorized, "a valid bearer token is required (Authorization: Bearer …)",
        field: "Authorization")
      response.headers[.wwwAuthenticate] = "Bearer"
      return response
    }
    if let wait = limiter.admit(user: user, address: context.clientAddress) {
      var response = Self.problem(
        .tooManyRequests, "too many requests; retry in \(wait) s", field: nil)
      response.headers[.retryAfter] = String(wait)
      return response
    }
    do {
      if checksCaller, try await store.user(user) == nil { return Self.unknownCaller }
      return try await body(user)
    } catch SessionEngine.Refusal.unknownCaller {
      return Self.unknownCaller
    } catch SessionEngine.Refusal.ended(let session, let flow) {
      return Self.json(.gone, ["session": Self.sessionObject(session, flow)])
    } catch let failure as SessionEngine.Failure {
      switch failure {
      case .unknownSession: return Self.notFound(context)
      case .unknownSubject(let field, let id):
        return Self.problem(.unprocessableContent, "unknown user '\(id)'", field: field)
      case .conflict, .invalidFlow, .corruptSession:
        context.logger.error("step failed", metadata: ["error": "\(failure)"])
        return Self.problem(.serviceUnavailable, "the step could not be taken", field: nil)
      }
    } catch let error as StoreError {
      context.logger.error("store error", metadata: ["error": "\(error)"])
      return Self.problem(.serviceUnavailable, "the store is unavailable; retry", field: nil)
    }
  }

  static var unknownCaller: Response {
    problem(.forbidden, "the token's user is not in this store", field: nil)
  }

  /// The session in the path, if it exists and the caller is its actor (else nil: 404).
  func visible(_ context: APIContext, user: String) async throws -> (
    StoredSession, Session, CompiledFlow
  )? {
    let id = Self.parameter("id", context)
    // Only a session that is not there is "not found"; a store that cannot answer is 503.
    let found: (StoredSession, Session, CompiledFlow)
    do {
      found = try await engine.show(session: id)
    } catch SessionEngine.Failure.unknownSession {
      return nil
    }
    return found.1.subjects["actor"] == user ? found : nil
  }

  // MARK: - Sessions

  func start(_ request: Request, _ context: APIContext, user: String) async throws -> Response {
    let buffer = try await request.body.collect(upTo: Self.maxBody)
    let bytes = Array(buffer.readableBytesView)
    let key: String?
    switch Self.key(of: request) {
    case .success(let given): key = given
    case .failure(let problem): return problem.response
    }
    let body: [String: JSONValue]
    switch Self.parse(bytes, keys: ["flow", "target"]) {
    case .success(let object): body = object
    case .failure(let problem): return problem.response
    }
    guard case .string(let flowID)? = body["flow"] else {
      return Self.problem(.unprocessableContent, "'flow' is required: a flow id", field: "flow")
    }
    guard let flow = await flows.flow(flowID) else {
      let known = await flows.flows().keys.sorted().joined(separator: ", ")
      return Self.problem(
        .unprocessableContent, "no flow '\(flowID)'; this service offers: \(known)",
        field: "flow")
    }
    var target = user
    if let given = body["target"] {
      guard case .string(let text) = given, !text.isEmpty else {
        return Self.problem(.unprocessableContent, "'target' must be a user id", field: "target")
      }
      target = text
    }
    guard try await store.user(target) != nil else {
      return Self.problem(.unprocessableContent, "unknown user '\(target)'", field: "target")
    }
    let subjects = ["actor": user, "target": target]
    guard let key else {
      let step = try await engine.start(
        flow: flow.sourceBytes, path: flow.id, subjects: subjects)
      await deliver(context)
      return Self.json(.created, Self.sessionObject(step.session, step.flow))
    }
    // A start whose answer was lost, sent again with its key, replays the first answer (the
    // same session) instead of starting another.
    let digest = Self.digest("/v1/sessions", bytes)
    let idempotency = SessionEngine.Idempotency(
      owner: user, key: key, digest: digest,
      reply: { step in
        StoredResponse(
          status: .created, body: Self.encode(Self.sessionObject(step.session, step.flow))
        ).kept(digest: digest)
      })
    switch try await engine.start(
      flow: flow.sourceBytes, path: flow.id, subjects: subjects, idempotency: idempotency)
    {
    case .replay(let kept):
      return StoredResponse(kept).response
    case .keyReused:
      return Self.keyReused
    case .step(_, let kept):
      await deliver(context)
      return StoredResponse(kept).response
    }
  }

  /// An event: the caller, the session and the step are checked and taken in one
  /// transaction. A request that is wrong in itself is answered after the caller and the
  /// session are checked apart, so a missing session is 404 before a bad body is 422.
  func send(_ request: Request, _ context: APIContext, user: String) async throws -> Response {
    let id = Self.parameter("id", context)
    // Checked apart, before a request's own fault is answered.
    func callerAndSession() async throws -> Response? {
      if try await store.user(user) == nil { return Self.unknownCaller }
      return try await visible(context, user: user) == nil ? Self.notFound(context) : nil
    }
    let event: Event
    do {
      switch try await Self.event(of: request) {
      case .success(let given): event = given
      case .failure(let problem): return try await callerAndSession() ?? problem.response
      }
    } catch let error as HTTPError {
      // A body past the limit (413).
      if let answer = try await callerAndSession() { return answer }
      throw error
    }
    let began = ContinuousClock.now
    let step: SessionEngine.Step
    let stored: StoredResponse
    do {
      if let key = event.key {
        let digest = Self.digest("/v1/sessions/\(id)/events", event.bytes)
        let idempotency = SessionEngine.Idempotency(
          owner: user, key: key, digest: digest,
          reply: { step in Self.reply(to: step).kept(digest: digest) })
        switch try await engine.send(
          session: id, event: event.name, payload: event.payload, expectedSeq: event.seq,
          idempotency: idempotency, caller: user)
        {
        case .replay(let kept):
          return StoredResponse(kept).response
        case .keyReused:
          return Self.keyReused
        case .step(let taken, let kept):
          step = taken
          stored = StoredResponse(kept)
        }
      } else {
        step = try await engine.send(
          session: id, event: event.name, payload: event.payload, expectedSeq: event.seq,
          caller: user)
        stored = Self.reply(to: step)
      }
    } catch SessionEngine.Failure.conflict(_, _, _) {
      Counter(label: "flow_conflicts_total").increment()
      let (_, now, current) = try await engine.show(session: id)
      return Self.json(.conflict, ["session": Self.sessionObject(now, current)])
    }
    Metrics.Timer(label: "flow_step_seconds", preferredDisplayUnit: .seconds).record(
      duration: ContinuousClock.now - began)
    for trace in step.timers + [step.trace] {
      if let rejection = trace.rejection {
        Counter(label: "flow_rejections_total", dimensions: [("kind", rejection.kind)])
          .increment()
      } else {
        Counter(label: "flow_steps_total", dimensions: [("flow", step.flow.id)]).increment()
      }
    }
    await deliver(context)
    return stored.response
  }

  /// An event request's body and key, read and checked.
  struct Event {
    var bytes: [UInt8]
    var key: String?
    var name: String
    var payload: [String: Value]
    var seq: Int?
  }

  /// The event a request sends, or the 422 that says what is wrong with it.
  static func event(of request: Request) async throws -> Result<Event, Problem> {
    let buffer = try await request.body.collect(upTo: Self.maxBody)
    let bytes = Array(buffer.readableBytesView)
    let key: String?
    switch Self.key(of: request) {
    case .success(let given): key = given
    case .failure(let problem): return .failure(problem)
    }
    let body: [String: JSONValue]
    switch Self.parse(bytes, keys: ["event", "payload", "seq"]) {
    case .success(let object): body = object
    case .failure(let problem): return .failure(problem)
    }
    guard case .string(let event)? = body["event"], !event.isEmpty else {
      return .failure(
        Problem(
          .unprocessableContent, "'event' is required: the name of an event", field: "event"))
    }
    var payload: [String: Value] = [:]
    if let given = body["payload"] {
      guard case .object(let fields) = given else {
        return .failure(
          Problem(
            .unprocessableContent, "'payload' must be an object of fields", field: "payload"))
      }
      for (name, value) in fields {
        guard let converted = value.flowValue else {
          return .failure(
            Problem(
              .unprocessableContent,
              "payload field '\(name)' must be text, a number or true/false",
              field: "payload.\(name)"))
        }
        payload[name] = converted
      }
    }
    var seq: Int?
    if let given = body["seq"] {
      guard case .int(let exact) = given, exact >= 0 else {
        return .failure(
          Problem(.unprocessableContent, "'seq' must be a whole number, 0 or more", field: "seq"))
      }
      seq = exact
    }
    return .success(Event(bytes: bytes, key: key, name: event, payload: payload, seq: seq))
  }

  /// What identifies a request made with an idempotency key: its session and its body.
  /// What a key stands for: the request's path and body (POST).
  static func digest(_ path: String, _ body: [UInt8]) -> String {
    var hash = SHA256()
    hash.update(data: Array("POST \(path)\n".utf8))
    hash.update(data: body)
    return SessionKey.hex(Array(hash.finalize()))
  }

  /// The request's `Idempotency-Key`, if it has one; a 422 naming the header when it is not
  /// 1 to 255 characters.
  static func key(of request: Request) -> Result<String?, Problem> {
    let key = idempotencyKey.flatMap { request.headers[$0] }
    if let key, key.isEmpty || key.count > 255 {
      return .failure(
        Problem(
          response: problem(
            .unprocessableContent, "an Idempotency-Key has 1 to 255 characters",
            field: "Idempotency-Key")))
    }
    return .success(key)
  }

  /// A key seen with another request.
  static var keyReused: Response {
    problem(
      .unprocessableContent,
      "this Idempotency-Key was used with another request; use a new key for a new request",
      field: "Idempotency-Key")
  }

  /// The answer to a step: 200 with the step when accepted; 422 (410 for an ended or
  /// expired session) with the rejection when not.
  static func reply(to step: SessionEngine.Step) -> StoredResponse {
    let object = sessionObject(step.session, step.flow)
    guard let rejection = step.trace.rejection else {
      return StoredResponse(
        status: .ok, body: encode(["session": object, "step": stepObject(step)]))
    }
    let status: HTTPResponse.Status =
      ["session-expired", "session-ended"].contains(rejection.kind)
      ? .gone : .unprocessableContent
    return StoredResponse(
      status: status,
      body: encode([
        "session": object,
        "rejection": ["kind": rejection.kind, "reason": rejection.description],
      ]))
  }

  /// Fires due timers until the task is cancelled: every batch due now, then a sleep to the
  /// next whole second. So an overdue timer fires within a second of the service starting,
  /// and any timer within about a second of falling due; a timer fires once however many
  /// processes tick (its firing commits with the session).
  public func runTimers() async {
    while !Task.isCancelled {
      do {
        var fired = 0
        while !Task.isCancelled {
          let batch = try await engine.tickBatch(limit: 256)
          fired += batch.count
          for firing in batch {
            logger.info(
              "timer fired",
              metadata: [
                "session": "\(firing.session.id)", "flow": "\(firing.flow.id)",
                "state": "\(firing.session.state)",
              ])
          }
          if batch.count < 256 { break }
        }
        if fired > 0 { _ = try await store.dispatch() }
      } catch {
        logger.error("timers could not fire; retrying", metadata: ["error": "\(error)"])
      }
      let now = Date().timeIntervalSince1970
      let wait = max(0.05, now.rounded(.down) + 1 - now)
      try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
    }
  }

  /// Server-sent events for live views: the session object now, then again after every step
  /// (its `id:` is the seq), each after a `trace` event with the session's audit entries
  /// that are new since the last one (masked: no code, no full number; rejections too,
  /// which change no seq), until the session ends, the client goes away or the service shuts
  /// down. The store is polled, so steps taken by any process, and timers, show up within a
  /// fifth of a second. A comment every 15 seconds keeps proxies from closing a quiet stream
  /// and tells a client that went away.
  func stream(_ id: String) -> AsyncStream<ByteBuffer> {
    let engine = self.engine
    let store = self.store
    let streams = self.streams
    return AsyncStream { continuation in
      let task = Task {
        var last = -1
        var seen = 0
        var quiet = ContinuousClock.now
        while !Task.isCancelled {
          guard let (_, session, flow) = try? await engine.show(session: id) else { break }
          if let entries = try? await store.audit(session: id, skipping: seen), !entries.isEmpty {
            seen += entries.count
            let trace = entries.map { entry -> [String: Any] in
              [
                "time": entry.time, "kind": entry.kind.rawValue, "outcome": entry.outcome,
                "detail": entry.detail,
              ]
            }
            let data = String(decoding: Self.encode(trace), as: UTF8.self)
            continuation.yield(ByteBuffer(string: "event: trace\ndata: \(data)\n\n"))
            quiet = ContinuousClock.now
          }
          if session.seq != last {
            last = session.seq
            let data = String(
              decoding: Self.encode(Self.sessionObject(session, flow)), as: UTF8.self)
            continuation.yield(
              ByteBuffer(string: "id: \(session.seq)\nevent: session\ndata: \(data)\n\n"))
            quiet = ContinuousClock.now
          }
          if session.isFinal { break }
          if ContinuousClock.now - quiet > .seconds(15) {
            continuation.yield(ByteBuffer(string: ": keep-alive\n\n"))
            quiet = ContinuousClock.now
          }
          try? await Task.sleep(for: .milliseconds(200))
        }
        continuation.finish()
      }
      let token = streams.open(continuation)
      continuation.onTermination = { _ in
        task.cancel()
        streams.close(token)
      }
    }
  }

  /// Ends every live view (the service is shutting down: a stream would hold it open).
  public func endStreams() {
    streams.endAll()
  }

  /// Sends what committed steps queued into a dry-run store's simulated inbox at once (so a
  /// test reads a code right after its step); real providers are the dispatcher's
  /// (`runDeliveries`). A failure leaves it queued for the next attempt.
  func deliver(_ context: APIContext) async {
    guard provider == nil else { return }
    do {
      _ = try await store.dispatchQueuedHere()
    } catch {
      context.logger.warning("delivery failed; it stays queued", metadata: ["error": "\(error)"])
    }
  }

  /// The outbox dispatcher, until the task is cancelled: every tenth of a second, what is due
  /// goes to the providers (on a dry-run store, once a second, into the simulated inbox) (retried with the policy's backoff; a delivery given up is
  /// audited). A delivery cut short by shutdown stays queued and is sent again, with the same
  /// key, by the next process (at least once).
  public func runDeliveries() async {
    guard let provider else {
      // A dry-run store's inbox is filled after each request; this picks up what a process
      // that died after its commit left queued (or claimed), once a second.
      while !Task.isCancelled {
        do {
          try await store.dispatch()
        } catch {
          logger.warning("the outbox could not be read; retrying", metadata: ["error": "\(error)"])
        }
        try? await Task.sleep(for: .seconds(1))
      }
      return
    }
    while !Task.isCancelled {
      do {
        let before = try await store.pendingDeliveries()
        let delivered = try await store.dispatch(to: provider, retry: retry)
        let after = try await store.pendingDeliveries()
        if before - delivered > after {
          Counter(label: "flow_delivery_failures_total").increment(by: before - delivered - after)
        }
      } catch {
        logger.error("the outbox could not be read; retrying", metadata: ["error": "\(error)"])
      }
      try? await Task.sleep(for: .milliseconds(100))
    }
  }

  // MARK: - JSON

  /// A flow with what a diagram needs: its states, its start, its final states with their
  /// outcomes, and every transition (the deadline's starts at `any_state`).
  static func flowObject(_ flow: CompiledFlow) -> [String: Any] {
    var finals: [String: Any] = [:]
    for state in flow.states { if let outcome = state.outcome { finals[state.name] = outcome } }
    return [
      "id": flow.id, "version": flow.version, "title": flow.title, "contentHash": flow.contentHash,
      "start": flow.states[flow.start].name, "states": flow.states.map(\.name), "finals": finals,
      "events": flow.events.map(eventObject),
      "transitions": FlowGraph.edges(of: flow).map { edge -> [String: Any] in
        [
          "from": edge.from, "to": edge.to, "event": edge.trigger ?? NSNull(),
          "timer": edge.timer ?? NSNull(), "condition": edge.condition ?? NSNull(),
          "actions": edge.actions,
        ]
      },
    ]
  }

  /// An event with its payload fields and their types, as flows and sessions list them.
  static func eventObject(_ event: CompiledEvent) -> [String: Any] {
    [
      "event": event.name,
      "payload": event.fields.map { ["name": $0.name, "type": "\($0.type)"] },
    ]
  }

  static func sessionObject(_ session: Session, _ flow: CompiledFlow) -> [String: Any] {
    let allowed: [[String: Any]] =
      session.isFinal
      ? []
      : flow.states[session.stateID].acceptedEvents.compactMap { name in
        flow.eventIndex[name].map { eventObject(flow.events[$0]) }
      }
    return [
      "id": session.id, "flow": session.flowID, "version": session.flowVersion,
      "state": session.state, "seq": session.seq, "final": session.isFinal,
      "outcome": session.outcome ?? NSNull(), "expiresAt": AuditTime.iso8601(session.expiresAt),
      "allowedEvents": allowed,
    ]
  }

  static func stepObject(_ step: SessionEngine.Step) -> [String: Any] {
    [
      "event": step.trace.event ?? NSNull(), "from": step.trace.from, "to": step.trace.to,
      "effects": step.trace.transitions.flatMap { $0.effects.map(\.action) },
      "timers": step.timers.map { ["from": $0.from, "to": $0.to] },
    ]
  }

  static func encode(_ object: Any) -> [UInt8] {
    JSONWriter.bytes(object)
  }

  static func json(_ status: HTTPResponse.Status, _ object: Any) -> Response {
    StoredResponse(status: status, body: encode(object)).response
  }

  static func problem(_ status: HTTPResponse.Status, _ message: String, field: String?)
    -> Response
  {
    var error: [String: Any] = ["message": message]
    if let field { error["field"] = field }
    return json(status, ["error": error])
  }

  static func notFound(_ context: APIContext) -> Response {
    problem(.notFound, "no session '\(parameter("id", context))'", field: nil)
  }

  /// A path parameter, percent-decoded (`%2B15550100001` is `+15550100001`).
  static func parameter(_ name: String, _ context: APIContext) -> String {
    let raw = context.parameters.get(name) ?? ""
    return raw.removingPercentEncoding ?? raw
  }

  struct Problem: Error {
    var response: Response
  }

  static func object(_ request: Request, _ context: APIContext, keys: Set<String>) async throws
    -> Result<[String: JSONValue], Problem>
  {
    let buffer = try await request.body.collect(upTo: maxBody)
    return parse(Array(buffer.readableBytesView), keys: keys)
  }

  /// A JSON object with only `keys`; a 400 for what is not JSON, a 422 naming the field for
  /// an unknown one.
  static func parse(_ bytes: [UInt8], keys: Set<String>) -> Result<[String: JSONValue], Problem> {
    if bytes.isEmpty { return .success([:]) }
    guard let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
      return .failure(Problem(response: problem(.badRequest, "the body is not JSON", field: nil)))
    }
    guard case .object(let object) = parsed else {
      return .failure(
        Problem(
          response: problem(.unprocessableContent, "the body must be a JSON object", field: nil)))
    }
    if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
      return .failure(
        Problem(
          response: problem(
            .unprocessableContent,
            "unknown field '\(unknown)'; expected: \(keys.sorted().joined(separator: ", "))",
            field: unknown)))
    }
    return .success(object)
  }
}

/// The continuations of the open live views.
final class LiveStreams: Sendable {
  private struct Open {
    var ended = false
    var next = 0
    var continuations: [Int: AsyncStream<ByteBuffer>.Continuation] = [:]
  }

  private let state = Mutex(Open())

  /// Registers a stream; after `endAll` it is ended at once.
  func open(_ continuation: AsyncStream<ByteBuffer>.Continuation) -> Int {
    let (token, ended) = state.withLock { open -> (Int, Bool) in
      open.next += 1
      if !open.ended { open.continuations[open.next] = continuation }
      return (open.next, open.ended)
    }
    if ended { continuation.finish() }
    return token
  }

  func close(_ token: Int) {
    _ = state.withLock { $0.continuations.removeValue(forKey: token) }
  }

  func endAll() {
    let all = state.withLock { open -> [AsyncStream<ByteBuffer>.Continuation] in
      open.ended = true
      defer { open.continuations = [:] }
      return Array(open.continuations.values)
    }
    for continuation in all { continuation.finish() }
  }
}

/// A known path with a method it is not served with: 405 with `Allow`, not 404. HEAD on a
/// path served with GET is answered as GET, without the body.
struct MethodNotAllowed: RouterMiddleware {
  func handle(
    _ request: Request, context: APIContext,
    next: (Request, APIContext) async throws -> Response
  ) async throws -> Response {
    do {
      return try await next(request, context)
    } catch let error as HTTPError where error.status == .notFound {
      guard let methods = FlowAPI.methods(of: request.uri.path),
        !methods.contains(request.method)
      else { throw error }
      if request.method == .head, methods.contains(.get) {
        var head = request.head
        head.method = .get
        let response = try await next(Request(head: head, body: request.body), context)
        return Response(status: response.status, headers: response.headers)
      }
      let allow = methods.map(\.rawValue).joined(separator: ", ")
      var response = FlowAPI.problem(
        .methodNotAllowed, "\(request.uri.path) takes \(allow) only", field: nil)
      response.headers[.allow] = allow
      return response
    }
  }
}

/// A response as bytes, kept for idempotent replays.
struct StoredResponse: Sendable {
  var status: HTTPResponse.Status
  var body: [UInt8]

  init(status: HTTPResponse.Status, body: [UInt8]) {
    self.status = status
    self.body = body
  }

  init(_ kept: KeptReply) {
    self.init(status: HTTPResponse.Status(code: kept.status), body: kept.body)
  }

  func kept(digest: String) -> KeptReply {
    KeptReply(digest: digest, status: status.code, body: body)
  }

  var response: Response {
    Response(
      status: status, headers: [.contentType: "application/json"],
      body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
  }
}

/// A JSON value as a request body holds it; numbers that are whole are `int`.
enum JSONValue: Decodable, Sendable {
  case null
  case bool(Bool)
  case int(Int)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Int.self) {
      self = .int(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  /// The value an event's payload field takes: text, a whole number or true/false.
  var flowValue: Value? {
    switch self {
    case .string(let text): .string(text)
    case .int(let number): .int(number)
    case .bool(let value): .bool(value)
    default: nil
    }
  }
}

extension FlowAPI.Problem {
  /// A problem answer (RFC 9457) with this status, saying what is wrong and where.
  init(_ status: HTTPResponse.Status, _ detail: String, field: String?) {
    self.init(response: FlowAPI.problem(status, detail, field: field))
  }
}
