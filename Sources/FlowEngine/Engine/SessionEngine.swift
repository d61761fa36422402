public import Logging
internal import Synchronization

/// The durable engine: a thin async driver over a `SessionStore`. For every step it opens one
/// transaction, loads the session row, reads the facts, drives the step machine through the
/// domain's actions inside that transaction, and writes the new row (with its `seq`) together
/// with everything the actions and the audit wrote, or nothing.
///
/// A session runs on the exact flow text it started on: the store keeps every text it has run
/// by content hash, and the engine compiles a kept text again when it is not in its cache.
public struct SessionEngine: Sendable {
  public let store: any SessionStore
  public let catalog: Catalog
  public let clock: any FlowClock
  public let logger: Logger
  private let cache = FlowCache()

  public init(
    store: any SessionStore, catalog: Catalog, clock: any FlowClock,
    logger: Logger = Logger(label: "flowengine.engine")
  ) {
    self.store = store
    self.catalog = catalog
    self.clock = clock
    self.logger = logger
  }

  /// What a step did: the session after it (unchanged when rejected), its trace and the flow.
  public struct Step: Sendable {
    public var session: Session
    public var trace: StepTrace
    public var flow: CompiledFlow
    /// The timers that fell due before the event and fired first, in order.
    public var timers: [StepTrace] = []
    public var accepted: Bool { trace.accepted }
  }

  /// Why the engine could not take a step at all (not a flow's rejection, which is a `Step`).
  public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
    /// No session has this id.
    case unknownSession(String)
    /// The step named a `seq` the session no longer has; nothing changed.
    case conflict(session: String, expected: Int, current: Int)
    /// A subject of a new session is not in the directory.
    case unknownSubject(field: String, id: String)
    /// The flow text does not load, or a fact has the wrong type.
    case invalidFlow(String)
    /// The stored session does not decode (tampered, or signed with another key).
    case corruptSession(String)

    public var description: String {
      switch self {
      case .unknownSession(let id): "unknown session '\(id)'"
      case .conflict(let session, let expected, let current):
        "session \(session) is at seq \(current), not \(expected): another step came first; nothing changed"
      case .unknownSubject(let field, let id): "unknown user '\(id)' (\(field))"
      case .invalidFlow(let message): message
      case .corruptSession(let message): "the stored session is refused: \(message)"
      }
    }
  }

  /// Starts a session of the flow text `bytes` (kept by the store by content hash) for the
  /// subjects (context field → id), with a new 128-bit random id.
  public func start(
    flow bytes: [UInt8], path: String = "<memory>", subjects: [String: String],
    id: String = SessionID.random()
  ) async throws -> Step {
    let flow = try compile(bytes, path: path)
    let clock = self.clock
    return try await write(reading: [.users(Set(subjects.values).sorted())]) {
      transaction, log in
      // The time of a step is read once its transaction holds the lock: a step that waited
      // for another one is judged at the time it runs (expiry, code lifetimes).
      try startStep(
        flow, bytes: bytes, subjects: subjects, id: id, now: clock.now(), in: transaction,
        log: log)
    }
  }

  /// `start`, for a flow compiled already (its `sourceBytes` are what the store keeps), on a
  /// store that never suspends (the in-memory store of dry runs).
  public func startNow(
    flow: CompiledFlow, subjects: [String: String], id: String = SessionID.random()
  ) throws -> Step {
    guard let store = store as? any SynchronousSessionStore else {
      preconditionFailure("startNow needs a synchronous store")
    }
    cache.keep(flow)
    return try store.writeNow { transaction in
      try startStep(
        flow, bytes: flow.sourceBytes, subjects: subjects, id: id, now: clock.now(),
        in: transaction)
    }
  }

  private func newSession(_ flow: CompiledFlow, id: String, facts: [String: Value], now: Int)
    throws(Failure) -> Session
  {
    do {
      return try machine(flow).makeSession(id: id, facts: facts, now: now)
    } catch {
      throw .invalidFlow(error.message)
    }
  }

  private func startStep(
    _ flow: CompiledFlow, bytes: [UInt8], subjects: [String: String], id: String, now: Int,
    in transaction: any StoreTransaction, log: StepLog? = nil
  ) throws -> Step {
    for field in flow.context where subjects[field.name] == nil {
      throw Failure.unknownSubject(field: field.name, id: "")
    }
    guard let facts = try transaction.facts(of: subjects) else {
      for (field, subject) in subjects.sorted(by: { $0.key < $1.key })
      where try transaction.facts(of: [field: subject]) == nil {
        throw Failure.unknownSubject(field: field, id: subject)
      }
      throw Failure.unknownSubject(field: "actor", id: subjects["actor"] ?? "")
    }
    let session = try newSession(flow, id: id, facts: facts, now: now)
    try transaction.keepFlowText(
      bytes, contentHash: flow.contentHash, flowID: flow.id, version: flow.version)
    let result = try core(flow, log).step(
      session, event: nil, payload: [:], now: now, on: transaction)
    try transaction.insertSession(result.session)
    return Step(session: result.session, trace: result.trace, flow: flow)
  }

  /// Sends an event to a stored session. With `expectedSeq`, the step applies only if the
  /// session is still at that `seq` (else `Failure.conflict`, and nothing changes); without
  /// it, to whatever `seq` the session has when the step's transaction begins. A rejected
  /// event changes nothing but the audit log.
  ///
  /// With `caller`, the event comes from that user (a service's authenticated caller): they
  /// must be in the store and the session's actor, checked in the step's own transaction
  /// (`Refusal`; a session not theirs is `Failure.unknownSession`, as one that is not there),
  /// and an ended session is refused, not stepped.
  public func send(
    session id: String, event: String, payload: [String: Value], expectedSeq: Int? = nil,
    caller: String? = nil
  ) async throws -> Step {
    let result = try await write(reading: [.session(id)]) { transaction, log in
      let loaded = try admit(id, caller: caller, ended: true, in: transaction)
      return try sendStep(
        id, event: event, payload: payload, expectedSeq: expectedSeq, now: clock.now(),
        loaded: loaded, in: transaction, log: log)
    }
    return try result.get(id)
  }

  /// Why a caller's event was not taken (nothing changed).
  public enum Refusal: Error, Sendable {
    /// The caller is not a user of the store.
    case unknownCaller(String)
    /// The session has ended: it takes no more events.
    case ended(Session, CompiledFlow)
  }

  /// The session to step for `caller` (nil without one): see `send(…, caller:)`. A caller
  /// who is not in the store is refused first, whatever the session.
  private func admit(
    _ id: String, caller: String?, ended: Bool, in transaction: any StoreTransaction
  ) throws -> (CompiledFlow, Session)? {
    guard let caller else { return nil }
    func known() throws {
      // The session's actor was read (and locked) with it: no query for them here.
      guard try transaction.facts(of: ["actor": caller]) != nil else {
        throw Refusal.unknownCaller(caller)
      }
    }
    let loaded: (CompiledFlow, Session)
    do {
      loaded = try loadValue(id, in: transaction)
    } catch Failure.unknownSession(let missing) {
      try known()
      throw Failure.unknownSession(missing)
    }
    try known()
    guard loaded.1.subjects["actor"] == caller else { throw Failure.unknownSession(id) }
    if ended, loaded.1.isFinal { throw Refusal.ended(loaded.1, loaded.0) }
    return loaded
  }

  /// A request's idempotency key, and how to turn its step into the answer kept for it.
  public struct Idempotency: Sendable {
    public var owner: String
    public var key: String
    public var digest: String
    /// How long a kept answer replays, in seconds (24 hours by default).
    public var window: Int
    public var reply: @Sendable (Step) -> KeptReply

    public init(
      owner: String, key: String, digest: String, window: Int = 86_400,
      reply: @escaping @Sendable (Step) -> KeptReply
    ) {
      self.owner = owner
      self.key = key
      self.digest = digest
      self.window = window
      self.reply = reply
    }
  }

  /// What `send(…, idempotency:)` did.
  public enum Answer: Sendable {
    /// A new step (accepted or rejected), with the answer kept for its key.
    case step(Step, KeptReply)
    /// The key was seen with the same request: its first answer, and no new step.
    case replay(KeptReply)
    /// The key was seen with another request: nothing was done.
    case keyReused
  }

  /// `send`, under an idempotency key: the key's kept answer is looked up, the step taken
  /// and its answer kept all in one transaction, so two racing requests with one key never
  /// both step (the second waits for the first and replays its answer). A stale
  /// `expectedSeq` throws `Failure.conflict` and keeps nothing.
  public func send(
    session id: String, event: String, payload: [String: Value], expectedSeq: Int? = nil,
    idempotency: Idempotency, caller: String? = nil
  ) async throws -> Answer {
    let reads: [StoreRead] = [
      .session(id), .keptReply(owner: idempotency.owner, key: idempotency.key),
    ]
    let (result, answer) = try await write(reading: reads) {
      transaction, log -> (SendResult?, Answer) in
      let now = clock.now()
      // Under a key, an ended session goes to its kept answer (it may be the one that
      // ended it), else to a step that is refused.
      let loaded = try admit(id, caller: caller, ended: false, in: transaction)
      if let kept = try transaction.keptReply(
        owner: idempotency.owner, key: idempotency.key, since: now - idempotency.window)
      {
        return (nil, kept.digest == idempotency.digest ? .replay(kept) : .keyReused)
      }
      let result = try sendStep(
        id, event: event, payload: payload, expectedSeq: expectedSeq, now: now,
        loaded: loaded, in: transaction, log: log)
      guard case .step(let step) = result else { return (result, .keyReused) }
      let reply = idempotency.reply(step)
      try transaction.keepReply(
        reply, owner: idempotency.owner, key: idempotency.key, now: now,
        forgetBefore: now - idempotency.window)
      return (result, .step(step, reply))
    }
    if let result { _ = try result.get(id) }
    return answer
  }

  /// `start`, under an idempotency key: as `send(…, idempotency:)`, the key's kept answer is
  /// looked up, the session started and its answer kept in one transaction, so a start
  /// whose answer was lost and is sent again (same key, same request) starts no second
  /// session: it replays the first one's answer.
  public func start(
    flow bytes: [UInt8], path: String = "<memory>", subjects: [String: String],
    id: String = SessionID.random(), idempotency: Idempotency
  ) async throws -> Answer {
    let flow = try compile(bytes, path: path)
    let clock = self.clock
    let reads: [StoreRead] = [
      .keptReply(owner: idempotency.owner, key: idempotency.key),
      .users(Set(subjects.values).sorted()),
    ]
    return try await write(reading: reads) { transaction, log -> Answer in
      let now = clock.now()
      if let kept = try transaction.keptReply(
        owner: idempotency.owner, key: idempotency.key, since: now - idempotency.window)
      {
        return kept.digest == idempotency.digest ? .replay(kept) : .keyReused
      }
      let step = try startStep(
        flow, bytes: bytes, subjects: subjects, id: id, now: now, in: transaction, log: log)
      let reply = idempotency.reply(step)
      try transaction.keepReply(
        reply, owner: idempotency.owner, key: idempotency.key, now: now,
        forgetBefore: now - idempotency.window)
      return .step(step, reply)
    }
  }

  /// `send`, on a store that never suspends (the in-memory store of dry runs).
  public func sendNow(
    session id: String, event: String, payload: [String: Value], expectedSeq: Int? = nil
  ) throws -> Step {
    guard let store = store as? any SynchronousSessionStore else {
      preconditionFailure("sendNow needs a synchronous store")
    }
    return try store.writeNow { transaction in
      try sendStep(
        id, event: event, payload: payload, expectedSeq: expectedSeq, now: clock.now(),
        in: transaction)
    }.get(id)
  }

  private func sendStep(
    _ id: String, event: String, payload: [String: Value], expectedSeq: Int?, now: Int,
    loaded: (CompiledFlow, Session)? = nil, in transaction: any StoreTransaction,
    log: StepLog? = nil
  ) throws -> SendResult {
    let (flow, session) = try loaded ?? loadValue(id, in: transaction)
    if let expectedSeq, expectedSeq != session.seq {
      // Audited like a step (SECURITY.md 33); the session is not touched.
      try auditConflict(event, session: session, flow: flow, expected: expectedSeq, in: transaction)
      return .conflict(expected: expectedSeq, current: session.seq)
    }
    // Timers that fell due before the event fire first, each its own step.
    let fired = try core(flow, log).fireDue(session, now: now, on: transaction)
    let current = fired.last?.session ?? session
    let result = try core(flow, log).step(
      current, event: event, payload: payload, now: now, on: transaction)
    if result.accepted || !fired.isEmpty {
      guard try transaction.updateSession(result.session, expectedSeq: session.seq) else {
        throw Failure.conflict(
          session: id, expected: session.seq,
          current: try transaction.session(id)?.seq ?? session.seq)
      }
    }
    return .step(
      Step(
        session: result.session, trace: result.trace, flow: flow, timers: fired.map(\.trace)))
  }

  /// What a tick did to one session: the timers it fired, in order, and the session after.
  public struct Firing: Sendable {
    public var session: Session
    public var flow: CompiledFlow
    /// When the first of them fell due.
    public var due: Int
    public var traces: [StepTrace]
  }

  /// Fires every timer of the store that is due by now, in due order, `batch` sessions per
  /// transaction. A timer fires at most once: its firing commits with the session, and a
  /// session that moved on since it was found is judged again inside the transaction.
  public func tick(batch: Int = 256) async throws -> [Firing] {
    var all: [Firing] = []
    while true {
      let fired = try await tickBatch(limit: batch)
      if fired.isEmpty { return all }
      all += fired
    }
  }

  /// One transaction of `tick`: up to `limit` sessions with a due timer, fired.
  public func tickBatch(limit: Int = 256) async throws -> [Firing] {
    try await write { transaction, log in
      try tickStep(limit: limit, now: clock.now(), in: transaction, log: log)
    }
  }

  /// `tick`, on a store that never suspends.
  public func tickNow(batch: Int = 256) throws -> [Firing] {
    guard let store = store as? any SynchronousSessionStore else {
      preconditionFailure("tickNow needs a synchronous store")
    }
    var all: [Firing] = []
    while true {
      let fired = try store.writeNow { transaction in
        try tickStep(limit: batch, now: clock.now(), in: transaction)
      }
      if fired.isEmpty { return all }
      all += fired
    }
  }

  private func tickStep(
    limit: Int, now: Int, in transaction: any StoreTransaction, log: StepLog? = nil
  ) throws -> [Firing] {
    var firings: [Firing] = []
    for id in try transaction.dueSessions(at: now, limit: limit) {
      let (flow, session) = try loadValue(id, in: transaction)
      let next = machine(flow).nextTimer(session)?.due
      guard let due = next, due <= now else {
        // Found by a stale due time: nothing is due any more. Put the right one on the row.
        if session.dueAt != next {
          var fixed = session
          fixed.dueAt = next
          _ = try transaction.updateSession(fixed, expectedSeq: session.seq)
        }
        continue
      }
      let fired = try core(flow, log).fireDue(session, now: now, on: transaction)
      guard let last = fired.last else { continue }
      guard try transaction.updateSession(last.session, expectedSeq: session.seq) else {
        throw Failure.conflict(
          session: id, expected: session.seq,
          current: try transaction.session(id)?.seq ?? session.seq)
      }
      firings.append(
        Firing(session: last.session, flow: flow, due: due, traces: fired.map(\.trace)))
    }
    return firings
  }

  private enum SendResult: Sendable {
    case step(Step)
    case conflict(expected: Int, current: Int)

    func get(_ id: String) throws -> Step {
      switch self {
      case .step(let step): return step
      case .conflict(let expected, let current):
        throw Failure.conflict(session: id, expected: expected, current: current)
      }
    }
  }

  private func auditConflict(
    _ event: String, session: Session, flow: CompiledFlow, expected: Int,
    in transaction: any StoreTransaction
  ) throws {
    let facts = try transaction.facts(of: session.subjects) ?? [:]
    let withFacts = StepMachine(
      machine: machine(flow), session: session, facts: facts, factsVersion: [], now: clock.now()
    ).sessionWithFacts
    let trace = StepTrace(
      event: event, payload: [], from: session.state, to: session.state,
      rejection: .conflict(expected: expected, current: session.seq), transitions: [],
      outcome: nil)
    try transaction.record(trace, of: withFacts)
  }

  /// The compiled flow of a text (cached by content hash), or `Failure.invalidFlow`.
  public func flow(_ bytes: [UInt8], path: String = "<memory>") throws -> CompiledFlow {
    try compile(bytes, path: path)
  }

  /// A stored session, decoded and verified, with the flow text it runs on.
  public func show(session id: String) async throws -> (StoredSession, Session, CompiledFlow) {
    try await store.read { transaction in
      let (row, flow, session) = try load(id, in: transaction)
      return (row, session, flow)
    }
  }

  // MARK: - Inside

  /// The session of a step: the store's value when it holds one, else its row decoded.
  private func loadValue(_ id: String, in transaction: any StoreTransaction) throws -> (
    CompiledFlow, Session
  ) {
    if let session = try transaction.sessionValue(id) {
      return (try pinnedFlow(session.contentHash, id: session.flowID, in: transaction), session)
    }
    let (_, flow, session) = try load(id, in: transaction)
    return (flow, session)
  }

  /// The compiled flow of a text the store keeps.
  private func pinnedFlow(_ hash: String, id: String, in transaction: any StoreTransaction) throws
    -> CompiledFlow
  {
    if let cached = cache.flow(hash) { return cached }
    guard let bytes = try transaction.flowText(hash) else {
      throw Failure.corruptSession("the store does not keep the flow text \(hash.prefix(12))")
    }
    return try compile(bytes, path: "\(id)@\(hash.prefix(12))")
  }

  private func load(_ id: String, in transaction: any StoreTransaction) throws -> (
    StoredSession, CompiledFlow, Session
  ) {
    guard let row = try transaction.session(id) else { throw Failure.unknownSession(id) }
    let flow = try pinnedFlow(row.contentHash, id: row.flowID, in: transaction)
    do {
      let session = try Session.unpack(
        row.body, id: row.id, for: flow, key: transaction.sessionKey)
      cache.keep(flow)
      // The columns are for tools; they must say what the signed body says.
      guard session.id == row.id, session.seq == row.seq, session.state == row.state,
        session.outcome == row.outcome, session.startedAt == row.startedAt,
        session.updatedAt == row.updatedAt, session.expiresAt == row.expiresAt,
        session.dueAt == row.dueAt,
        (session.subjects["actor"] ?? "") == row.actor, session.flowID == row.flowID,
        session.flowVersion == row.flowVersion
      else {
        throw Session.DecodingError(message: "the session's columns do not match its body")
      }
      return (row, flow, session)
    } catch let error as Session.DecodingError {
      throw Failure.corruptSession(error.message)
    }
  }

  private func compile(_ bytes: [UInt8], path: String) throws -> CompiledFlow {
    let hash = FlowCompiler.hash(bytes)
    if let cached = cache.flow(hash) { return cached }
    let document = FlowDocument.parse(bytes: bytes, path: path, catalog: catalog)
    guard let flow = document.compiled() else {
      let renderer = DiagnosticRenderer(useColor: false)
      throw Failure.invalidFlow(renderer.render(document.diagnostics, in: document.source))
    }
    cache.keep(flow)
    return flow
  }

  private func core(_ flow: CompiledFlow, _ log: StepLog?) -> StepCore {
    StepCore(
      machine: machine(flow), logger: logger, enforcesMaxAge: true, observer: nil, log: log)
  }

  /// `store.write`, with its steps' log lines written once it has committed (`StepLog`).
  private func write<T: Sendable>(
    reading first: [StoreRead] = [],
    _ body: @escaping @Sendable (any StoreTransaction, StepLog) throws -> T
  ) async throws -> T {
    let log = StepLog()
    let result = try await store.write(reading: first) { transaction in
      log.begin()
      return try body(transaction, log)
    }
    log.write(to: logger)
    return result
  }

  /// The flow's machine, made once per text (its check and slot tables are not free).
  private func machine(_ flow: CompiledFlow) -> FlowMachine {
    cache.machine(flow)
  }
}

extension CompiledFlow {
  var machine: FlowMachine { FlowMachine(flow: self) }
}

/// Compiled flows by content hash, shared by every step of an engine.
final class FlowCache: Sendable {
  private let flows = Mutex<[String: CompiledFlow]>([:])
  private let machines = Mutex<[String: FlowMachine]>([:])

  func flow(_ hash: String) -> CompiledFlow? { flows.withLock { $0[hash] } }

  func keep(_ flow: CompiledFlow) {
    flows.withLock { $0[flow.contentHash] = flow }
  }

  func machine(_ flow: CompiledFlow) -> FlowMachine {
    if let machine = machines.withLock({ $0[flow.contentHash] }) { return machine }
    let machine = FlowMachine(flow: flow)
    machines.withLock { $0[flow.contentHash] = machine }
    return machine
  }
}
