internal import Foundation

/// A running flow as a value: which flow (and exactly which text of it), where it is, who it is
/// for, and the results of its actions. Copy it, compare it, encode it, restore it: with the
/// store's directory, nothing else is needed to continue a session, on this process or another.
///
/// A session at rest holds no fact: facts (role, account, phone, email, 2FA settings) are read
/// from the directory at every step and dropped after it (SECURITY.md 20, 25), so a session row
/// or snapshot never holds a directory phone number or email. It keeps only the directory's
/// version of its subjects after its last step, to notice that they changed under it.
public struct Session: Sendable, Hashable {
  /// Bumped whenever the encoding changes; decoding refuses versions it does not know.
  public static let formatVersion = 3
  /// The oldest format this engine still reads (format 2 had no timers: it reads as none due).
  public static let oldestFormat = 2
  /// How long a session lives when its flow does not say (`settings.sessionMaxAge`).
  public static let defaultMaxAge = 3_600

  public internal(set) var id: String
  public internal(set) var flowID: String
  public internal(set) var flowVersion: Int
  /// SHA-256 of the flow file the session started on.
  public internal(set) var contentHash: String
  /// Index of the current state in the compiled flow, and its name.
  public internal(set) var stateID: Int
  public internal(set) var state: String
  /// Set when the state is final.
  public internal(set) var outcome: String?
  /// Value slots in the compiled flow's order; names in `slotNames`. Fact slots hold their
  /// type's zero value at rest and the directory's values during a step.
  public internal(set) var values: [Value]
  public let slotNames: [String]
  /// Who the session is for: each context field (`actor`, `target`) with the id of its entity.
  public internal(set) var subjects: [String: String]
  /// Accepted steps so far, the start included: a new session has `seq` 1. A step may name the
  /// `seq` it expects, so two racing steps never both apply to the same one.
  public internal(set) var seq: Int
  /// Absolute times (seconds since 1970, UTC) from the injected clock.
  public internal(set) var startedAt: Int
  public internal(set) var updatedAt: Int
  /// Every event at or after this time is rejected as `session-expired` (SECURITY.md 27).
  public internal(set) var expiresAt: Int
  /// The directory's version of the session's subjects after its last accepted step (see
  /// `FlowServices.factsVersion`); a step that finds another one is rejected as
  /// `facts-changed`.
  public internal(set) var factsVersion: [Int]
  /// When the current state was entered (its `after` timers count from here).
  public internal(set) var enteredAt: Int = 0
  /// How many of the current state's timer groups have fallen due since it was entered.
  public internal(set) var timersDone: Int = 0
  /// Whether the flow's deadline has fallen due.
  public internal(set) var deadlineDone = false
  /// When the next timer falls due (seconds since 1970, UTC), nil when none is pending: what a
  /// store indexes to fire timers.
  public internal(set) var dueAt: Int?

  public var isFinal: Bool { outcome != nil }

  /// Accepted events so far (the start not counted).
  public var steps: Int { max(0, seq - 1) }

  /// The value of a slot by name (`actor.role`, `verifyCode.ok`); for tests and tools, not steps.
  public func value(_ name: String) -> Value? {
    slotNames.firstIndex(of: name).map { values[$0] }
  }
}

extension Session {
  /// Why an encoded session cannot be restored.
  public struct DecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
  }

  /// The encoded form: plain JSON types, durations as `{"seconds": n}`, results only.
  private struct Encoded: Codable {
    struct FlowReference: Codable {
      var id: String
      var version: Int
      var contentHash: String
    }

    var format: Int
    var id: String
    var flow: FlowReference
    var state: String
    var outcome: String?
    var seq: Int
    var startedAt: Int
    var updatedAt: Int
    var expiresAt: Int
    var subjects: [String: String]
    var facts: [Int]
    var values: [String: JSONValue]
    var enteredAt: Int?
    var timersDone: Int?
    var deadlineDone: Bool?
    var dueAt: Int?
  }

  /// One JSON value, decoded strictly: `true` is never a number, `1` never a boolean.
  enum JSONValue: Codable, Hashable {
    case bool(Bool)
    case int(Int)
    case string(String)
    case seconds(Int)

    private struct Duration: Codable { var seconds: Int }

    init(from decoder: any Decoder) throws {
      let container = try decoder.singleValueContainer()
      if let flag = try? container.decode(Bool.self) {
        self = .bool(flag)
      } else if let number = try? container.decode(Int.self) {
        self = .int(number)
      } else if let text = try? container.decode(String.self) {
        self = .string(text)
      } else {
        self = .seconds(try container.decode(Duration.self).seconds)
      }
    }

    func encode(to encoder: any Encoder) throws {
      var container = encoder.singleValueContainer()
      switch self {
      case .bool(let flag): try container.encode(flag)
      case .int(let number): try container.encode(number)
      case .string(let text): try container.encode(text)
      case .seconds(let seconds): try container.encode(Duration(seconds: seconds))
      }
    }

    init(_ value: Value) {
      switch value {
      case .bool(let flag): self = .bool(flag)
      case .int(let number): self = .int(number)
      case .string(let text): self = .string(text)
      case .duration(let seconds): self = .seconds(seconds)
      }
    }

    func value(as type: ValueType) -> Value? {
      switch (type, self) {
      case (.bool, .bool(let flag)): .bool(flag)
      case (.int, .int(let number)): .int(number)
      case (.duration, .seconds(let seconds)): .duration(seconds)
      case (.string, .string(let text)), (.enumeration, .string(let text)),
        (.scalar, .string(let text)):
        .string(text)
      default: nil
      }
    }
  }

  private static let tagPrefix = Array(#","tag":""#.utf8)

  /// Stable JSON, one line, sorted keys, ending in `"tag"`: the HMAC-SHA256 (with `key`) of
  /// everything before it. The same session and key always encode to the same bytes. Fact slots
  /// are never written.
  public func encoded(key: SessionKey) -> [UInt8] {
    var values: [String: JSONValue] = [:]
    for (index, name) in slotNames.enumerated() where !Self.isFact(name, subjects: subjects) {
      values[name] = JSONValue(self.values[index])
    }
    let encoded = Encoded(
      format: Session.formatVersion, id: id,
      flow: .init(id: flowID, version: flowVersion, contentHash: contentHash), state: state,
      outcome: outcome, seq: seq, startedAt: startedAt, updatedAt: updatedAt,
      expiresAt: expiresAt, subjects: subjects, facts: factsVersion, values: values,
      enteredAt: enteredAt, timersDone: timersDone, deadlineDone: deadlineDone, dueAt: dueAt)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard var body = (try? encoder.encode(encoded)).map({ [UInt8]($0) }),
      body.last == UInt8(ascii: "}")
    else { return [] }
    body.removeLast()
    let tag = key.tag(body)
    return body + Self.tagPrefix + Array(tag.utf8) + Array(#""}"#.utf8)
  }

  public func encodedString(key: SessionKey) -> String {
    String(decoding: encoded(key: key), as: UTF8.self)
  }

  /// A slot is a fact when its name starts with a context field (`actor.role`).
  static func isFact(_ slot: String, subjects: [String: String]) -> Bool {
    guard let dot = slot.firstIndex(of: ".") else { return false }
    return subjects[String(slot[..<dot])] != nil
  }

  /// Restores a session encoded by `encoded(key:)` for `flow`; refuses bytes whose tag does not
  /// verify with `key` (tampered, or from another store), another flow or another text of it,
  /// an unknown format, an unknown state, or values the flow does not declare.
  public static func decode(_ bytes: [UInt8], for flow: CompiledFlow, key: SessionKey)
    throws(DecodingError) -> Session
  {
    // The tag: `,"tag":"<64 hex>"}` at the very end, over every byte before it.
    let suffixLength = tagPrefix.count + 64 + 2
    guard bytes.count > suffixLength,
      Array(bytes[(bytes.count - suffixLength)..<(bytes.count - suffixLength + tagPrefix.count)])
        == tagPrefix,
      bytes.suffix(2) == Array(#""}"#.utf8)
    else {
      throw DecodingError(message: "the session carries no authentication tag; it is refused")
    }
    let body = Array(bytes[..<(bytes.count - suffixLength)])
    let tag = String(decoding: bytes[(bytes.count - 66)..<(bytes.count - 2)], as: UTF8.self)
    guard key.verify(tag, for: body) else {
      throw DecodingError(
        message:
          "the session's authentication tag does not match: it was changed, or it belongs to another store"
      )
    }
    let json = Data(body + [UInt8(ascii: "}")])
    struct FormatOnly: Decodable { var format: Int? }
    guard let header = try? JSONDecoder().decode(FormatOnly.self, from: json) else {
      throw DecodingError(message: "the session is not a JSON object")
    }
    guard let format = header.format, (oldestFormat...formatVersion).contains(format) else {
      throw DecodingError(
        message:
          "unknown session format \(header.format.map(String.init) ?? "none"); this engine reads format \(formatVersion)"
      )
    }
    let encoded: Encoded
    do {
      encoded = try JSONDecoder().decode(Encoded.self, from: json)
    } catch {
      throw DecodingError(message: "the session is incomplete or malformed: \(error)")
    }
    guard encoded.flow.id == flow.id, encoded.flow.version == flow.version,
      encoded.flow.contentHash == flow.contentHash
    else {
      throw DecodingError(
        message:
          "the session belongs to flow \(encoded.flow.id) v\(encoded.flow.version) (\(encoded.flow.contentHash.prefix(12))), not \(flow.id) v\(flow.version) (\(flow.contentHash.prefix(12)))"
      )
    }
    guard let stateID = flow.stateIndex[encoded.state] else {
      throw DecodingError(message: "the session's state '\(encoded.state)' is not in the flow")
    }
    guard Set(encoded.subjects.keys) == Set(flow.context.map(\.name)) else {
      throw DecodingError(message: "the session's subjects do not match the flow's context")
    }
    var values: [Value] = []
    var results = 0
    for slot in flow.slots {
      if slot.kind == .fact {
        values.append(FlowMachine.zero(of: slot.type))
        continue
      }
      if format < slot.since {
        values.append(FlowMachine.zero(of: slot.type))
        continue
      }
      results += 1
      guard let raw = encoded.values[slot.name], let value = raw.value(as: slot.type) else {
        throw DecodingError(message: "the session has no valid value for '\(slot.name)'")
      }
      values.append(value)
    }
    if encoded.values.count != results {
      throw DecodingError(message: "the session holds values the flow does not declare")
    }
    if encoded.outcome != flow.states[stateID].outcome {
      throw DecodingError(message: "the session's outcome does not match its state")
    }
    return Session(
      id: encoded.id, flowID: flow.id, flowVersion: flow.version, contentHash: flow.contentHash,
      stateID: stateID, state: encoded.state, outcome: encoded.outcome, values: values,
      slotNames: flow.slots.map(\.name), subjects: encoded.subjects, seq: encoded.seq,
      startedAt: encoded.startedAt, updatedAt: encoded.updatedAt, expiresAt: encoded.expiresAt,
      factsVersion: encoded.facts, enteredAt: encoded.enteredAt ?? encoded.updatedAt,
      timersDone: encoded.timersDone ?? 0, deadlineDone: encoded.deadlineDone ?? false,
      dueAt: encoded.dueAt)
  }
}
