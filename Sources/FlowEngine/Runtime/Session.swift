internal import Foundation

/// A running flow as a value: which flow (and exactly which text of it), where it is, and every
/// value its guards read. Copy it, compare it, encode it, restore it: nothing else is needed to
/// continue a session, on this process or another.
public struct Session: Sendable, Hashable {
  /// Bumped whenever the encoding changes; decoding refuses versions it does not know.
  public static let formatVersion = 1

  public var id: String
  public var flowID: String
  public var flowVersion: Int
  /// SHA-256 of the flow file the session started on.
  public var contentHash: String
  /// Index of the current state in the compiled flow, and its name.
  public internal(set) var stateID: Int
  public internal(set) var state: String
  /// Set when the state is final.
  public internal(set) var outcome: String?
  /// Value slots in the compiled flow's order; names in `slotNames`.
  public internal(set) var values: [Value]
  public let slotNames: [String]
  /// Accepted events so far.
  public internal(set) var steps: Int
  /// Absolute times (seconds since 1970, UTC) from the injected clock.
  public var startedAt: Int
  public internal(set) var updatedAt: Int

  public var isFinal: Bool { outcome != nil }

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

  /// The encoded form: plain JSON types, durations as `{"seconds": n}`.
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
    var steps: Int
    var startedAt: Int
    var updatedAt: Int
    var values: [String: JSONValue]
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

  /// Stable JSON: sorted keys, one line; the same session always encodes to the same bytes.
  public func encoded() -> [UInt8] {
    var values: [String: JSONValue] = [:]
    for (name, value) in zip(slotNames, self.values) { values[name] = JSONValue(value) }
    let encoded = Encoded(
      format: Session.formatVersion, id: id,
      flow: .init(id: flowID, version: flowVersion, contentHash: contentHash), state: state,
      outcome: outcome, steps: steps, startedAt: startedAt, updatedAt: updatedAt, values: values)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? encoder.encode(encoded)).map { [UInt8]($0) } ?? []
  }

  public var encodedString: String { String(decoding: encoded(), as: UTF8.self) }

  /// Restores a session encoded by `encoded()` for `flow`; refuses another flow, another text
  /// of it, an unknown format, an unknown state, or values the flow does not declare.
  public static func decode(_ bytes: [UInt8], for flow: CompiledFlow) throws(DecodingError)
    -> Session
  {
    struct FormatOnly: Decodable { var format: Int? }
    guard let header = try? JSONDecoder().decode(FormatOnly.self, from: Data(bytes)) else {
      throw DecodingError(message: "the session is not a JSON object")
    }
    guard header.format == formatVersion else {
      throw DecodingError(
        message:
          "unknown session format \(header.format.map(String.init) ?? "none"); this engine reads format \(formatVersion)"
      )
    }
    let encoded: Encoded
    do {
      encoded = try JSONDecoder().decode(Encoded.self, from: Data(bytes))
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
    var values: [Value] = []
    for slot in flow.slots {
      guard let raw = encoded.values[slot.name], let value = raw.value(as: slot.type) else {
        throw DecodingError(message: "the session has no valid value for '\(slot.name)'")
      }
      values.append(value)
    }
    if encoded.values.count != flow.slots.count {
      throw DecodingError(message: "the session holds values the flow does not declare")
    }
    if encoded.outcome != flow.states[stateID].outcome {
      throw DecodingError(message: "the session's outcome does not match its state")
    }
    return Session(
      id: encoded.id, flowID: flow.id, flowVersion: flow.version, contentHash: flow.contentHash,
      stateID: stateID, state: encoded.state, outcome: encoded.outcome, values: values,
      slotNames: flow.slots.map(\.name), steps: encoded.steps, startedAt: encoded.startedAt,
      updatedAt: encoded.updatedAt)
  }
}
