public import FlowEngine
internal import Foundation

/// A scenario file: a dry run with expectations, for product teams to pin down what a flow
/// must do (`flowctl test`).
///
/// ```yaml
/// scenario: Ada changes her own number
/// flow: ../flows/update-own-2fa-phone.yaml
/// world: ../examples/team.yaml
/// actor: ada
/// start: { state: securityCenter }
/// steps:
///   - send: disable2FA
///     expect: { state: verifyingCurrentNumber, delivered: [{ to: "+15550100001", code: true }] }
///   - send: submitCode
///     payload: { code: $received }
///     expect: { state: editingPhone, effects: [verifyCode, disableTwoFactor] }
///   - wait: 11m
///   - wait: 15m                   # timers that fall due fire; expect checks what they did
///     expect: { state: expired, outcome: expired }
/// final:
///   state: completed
///   outcome: completed
///   users: { ada: { phone: "+15550109999", twoFactor: true } }
///   routes: { "+15550199000": ada }
/// ```
public struct Scenario: Sendable {
  public var name: String
  public var path: String
  public var flowPath: String
  public var worldPath: String
  public var actor: String
  public var target: String
  public var seed: UInt64
  public var start: Expectation?
  public var steps: [Step]
  public var final: Expectation?
  public var location: SourceLocation

  public enum Step: Sendable {
    case send(
      event: String, payload: [String: Value], expect: Expectation?, location: SourceLocation)
    /// Moves the simulated clock; the timers that fall due fire, and `expect` is checked
    /// against what they did (no timer firing: nothing happened, which is accepted).
    case wait(seconds: Int, expect: Expectation?, location: SourceLocation)
  }

  /// What must be true after a step (or at the start, or at the end).
  public struct Expectation: Sendable {
    public var state: String?
    public var accepted: Bool?
    /// The kind of rejection (`not-accepted`, `guard-false`, `invalid-payload`, …).
    public var rejected: String?
    public var outcome: String?
    /// Actions performed by the step, in order (a prefix-free subsequence check).
    public var effects: [String]?
    /// Messages delivered during the step.
    public var delivered: [Delivery]?
    /// Facts of users afterwards: user id → field → value.
    public var users: [String: [String: Value]] = [:]
    /// Call routing afterwards: line → user id.
    public var routes: [String: String] = [:]
    public var location: SourceLocation
  }

  public struct Delivery: Sendable {
    public var to: String
    /// true: a message carrying a code; false: a message without one; nil: either.
    public var code: Bool?
  }

  static let topKeys = [
    "scenario", "flow", "world", "actor", "target", "seed", "start", "steps", "final",
  ]
  static let expectationKeys = [
    "state", "accepted", "rejected", "outcome", "effects", "delivered", "users", "routes",
  ]
  static let userFields = ["phone", "twoFactor", "channel", "role", "phoneVerified", "email"]

  /// Reads a scenario file; paths in it are relative to the file.
  public static func load(path: String) -> (Scenario?, [Diagnostic], SourceText) {
    let read = SourceReader.read(path: path)
    if read.diagnostics.hasErrors { return (nil, read.diagnostics, read.source) }
    guard let root = read.root else {
      return (
        nil, [Diagnostic(.wrongType, "the scenario file is empty", at: .init(line: 1, column: 1))],
        read.source
      )
    }
    var reader = YAMLReader()
    let folder = (path as NSString).deletingLastPathComponent
    func relative(_ file: String) -> String {
      file.hasPrefix("/")
        ? file : (folder.isEmpty ? file : (folder as NSString).appendingPathComponent(file))
    }
    guard
      let top = reader.mapping(
        root, what: "a scenario", keys: topKeys,
        required: ["scenario", "flow", "world", "actor", "steps"]),
      let name = top["scenario"].flatMap({ reader.string($0, what: "scenario") }),
      let flow = top["flow"].flatMap({ reader.string($0, what: "flow") }),
      let world = top["world"].flatMap({ reader.string($0, what: "world") }),
      let actor = top["actor"].flatMap({ reader.string($0, what: "actor") })
    else {
      return (nil, read.diagnostics + reader.diagnostics, read.source)
    }
    let target = top["target"].flatMap { reader.string($0, what: "target") } ?? actor
    var seed: UInt64 = 2_026
    if let seedNode = top["seed"] {
      if case .int(let number)? = reader.value(seedNode, what: "seed"), number >= 0 {
        seed = UInt64(number)
      } else {
        reader.report(.wrongType, "seed must be a whole number", at: seedNode)
      }
    }
    let start = top["start"].flatMap { expectation($0, reader: &reader) }
    let final = top["final"].flatMap { expectation($0, reader: &reader) }
    if let final,
      final.accepted != nil || final.rejected != nil || final.effects != nil
        || final.delivered != nil
    {
      reader.report(
        .unknownKey,
        "'final' describes the end of the run: it takes state, outcome, users and routes (put accepted, rejected, effects and delivered under a step's expect)",
        at: final.location)
    }
    var steps: [Step] = []
    for node in top["steps"].map({ reader.list($0, what: "steps") }) ?? [] {
      guard
        let fields = reader.mapping(
          node, what: "a step", keys: ["send", "payload", "expect", "wait"])
      else {
        continue
      }
      if let waitNode = fields["wait"] {
        if fields["send"] != nil || fields["payload"] != nil {
          reader.report(
            .wrongType, "a wait step has only 'wait' and, for the timers it fires, 'expect'",
            at: node)
        } else if let seconds = reader.duration(waitNode, what: "wait") {
          let expect = fields["expect"].flatMap { expectation($0, reader: &reader) }
          steps.append(.wait(seconds: seconds, expect: expect, location: node.location))
        }
        continue
      }
      guard let sendNode = fields["send"], let event = reader.string(sendNode, what: "send") else {
        reader.report(
          .missingKey, "a step has 'send' (an event) or 'wait' (a duration)", at: node.location)
        continue
      }
      var payload: [String: Value] = [:]
      if let payloadNode = fields["payload"] {
        if case .mapping(let pairs) = payloadNode.content {
          for pair in pairs {
            guard let field = reader.string(pair.key, what: "a payload field") else { continue }
            if let value = reader.value(pair.value, what: "payload field '\(field)'") {
              payload[field] = value
            }
          }
        } else {
          reader.report(
            .wrongType, "payload must be a mapping such as { phone: \"+15550100001\" }",
            at: payloadNode)
        }
      }
      let expect = fields["expect"].flatMap { expectation($0, reader: &reader) }
      steps.append(.send(event: event, payload: payload, expect: expect, location: node.location))
    }
    let diagnostics = (read.diagnostics + reader.diagnostics).sortedByLocation()
    guard !diagnostics.hasErrors else { return (nil, diagnostics, read.source) }
    return (
      Scenario(
        name: name, path: path, flowPath: relative(flow), worldPath: relative(world), actor: actor,
        target: target,
        seed: seed, start: start, steps: steps, final: final, location: root.location),
      diagnostics, read.source
    )
  }

  private static func expectation(_ node: YAMLNode, reader: inout YAMLReader) -> Expectation? {
    guard let fields = reader.mapping(node, what: "expectations", keys: expectationKeys) else {
      return nil
    }
    var expectation = Expectation(location: node.location)
    expectation.state = fields["state"].flatMap { reader.string($0, what: "state") }
    expectation.accepted = fields["accepted"].flatMap { reader.bool($0, what: "accepted") }
    expectation.rejected = fields["rejected"].flatMap { reader.string($0, what: "rejected") }
    if let kind = expectation.rejected, !Rejection.kinds.contains(kind),
      let node = fields["rejected"]
    {
      reader.report(
        .invalidValue,
        "'\(kind)' is not a kind of rejection\(Suggestion.hint(for: kind, in: Rejection.kinds)); one of: \(Rejection.kinds.joined(separator: ", "))",
        at: node)
    }
    expectation.outcome = fields["outcome"].flatMap { reader.string($0, what: "outcome") }
    if expectation.accepted == true, expectation.rejected != nil {
      reader.report(
        .invalidValue, "'accepted: true' and 'rejected' contradict each other; keep one", at: node)
    }
    if let effects = fields["effects"] {
      expectation.effects = reader.list(effects, what: "effects").compactMap {
        reader.string($0, what: "an action")
      }
    }
    if let delivered = fields["delivered"] {
      expectation.delivered = reader.list(delivered, what: "delivered").compactMap {
        item -> Delivery? in
        guard
          let message = reader.mapping(
            item, what: "a delivery", keys: ["to", "code"], required: ["to"]),
          let to = message["to"].flatMap({ reader.string($0, what: "to") })
        else { return nil }
        return Delivery(to: to, code: message["code"].flatMap { reader.bool($0, what: "code") })
      }
    }
    if let users = fields["users"], case .mapping(let pairs) = users.content {
      for pair in pairs {
        guard let id = reader.string(pair.key, what: "a user id"),
          let facts = reader.mapping(pair.value, what: "facts of user '\(id)'", keys: userFields)
        else { continue }
        var values: [String: Value] = [:]
        for (field, valueNode) in facts {
          if let value = reader.value(valueNode, what: field) { values[field] = value }
        }
        expectation.users[id] = values
      }
    } else if let users = fields["users"] {
      reader.report(
        .wrongType,
        "users must map user ids to facts, such as { ada: { phone: \"+15550109999\" } }", at: users)
    }
    if let routes = fields["routes"], case .mapping(let pairs) = routes.content {
      for pair in pairs {
        if let line = reader.string(pair.key, what: "a line"),
          let user = reader.string(pair.value, what: "a user id")
        {
          expectation.routes[line] = user
        }
      }
    } else if let routes = fields["routes"] {
      reader.report(.wrongType, "routes must map lines to user ids", at: routes)
    }
    return expectation
  }
}
