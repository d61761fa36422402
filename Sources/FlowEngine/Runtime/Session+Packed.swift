/// The compact form a store keeps a session in: a few dozen bytes, no field names, no facts.
///
/// ```
/// 0x50 ('P'), format 3
/// varint seq · state index · startedAt · updatedAt − startedAt · expiresAt − startedAt
/// varint enteredAt − startedAt · timers done · deadline done (0/1) · dueAt − startedAt + 1 (0: none)
/// the subjects' ids, in the flow's context order (length-prefixed UTF-8)
/// the facts versions (count, then zigzag varints)
/// every result slot in the flow's order: a type byte, then its value
/// 16 bytes: HMAC-SHA256 (truncated) over the session id, the flow's content hash and all of the above
/// ```
///
/// The state is an index into the flow's states, which is stable because a session is pinned to
/// the exact text (content hash) it started on; the tag binds the bytes to that text and to the
/// session's id, so a body copied onto another row, or decoded for another text, is refused.
extension Session {
  static let packedMagic: UInt8 = 0x50
  static let packedTagLength = 16

  /// The session in its compact, signed form (see above).
  public func packed(key: SessionKey) -> [UInt8] {
    var out: [UInt8] = [Self.packedMagic, UInt8(Session.formatVersion)]
    out.reserveCapacity(96)
    Self.put(seq, into: &out)
    Self.put(stateID, into: &out)
    Self.put(startedAt, into: &out)
    Self.put(updatedAt &- startedAt, into: &out)
    Self.put(expiresAt &- startedAt, into: &out)
    Self.put(enteredAt &- startedAt, into: &out)
    Self.put(timersDone, into: &out)
    Self.put(deadlineDone ? 1 : 0, into: &out)
    Self.put(dueAt.map { $0 &- startedAt &+ 1 } ?? 0, into: &out)
    for (name, subject) in subjects.sorted(by: { $0.key < $1.key }) {
      Self.put(Array(name.utf8), into: &out)
      Self.put(Array(subject.utf8), into: &out)
    }
    Self.put(factsVersion.count, into: &out)
    for version in factsVersion { Self.put(version, into: &out) }
    for (index, name) in slotNames.enumerated() where !Self.isFact(name, subjects: subjects) {
      switch values[index] {
      case .bool(let flag): out.append(flag ? 1 : 0)
      case .int(let number):
        out.append(2)
        Self.put(number, into: &out)
      case .duration(let seconds):
        out.append(3)
        Self.put(seconds, into: &out)
      case .string(let text):
        out.append(4)
        Self.put(Array(text.utf8), into: &out)
      }
    }
    out += Self.packedTag(id: id, contentHash: contentHash, body: out, key: key)
    return out
  }

  /// Restores a session packed by `packed(key:)` for the session `id` of `flow`; refuses bytes
  /// whose tag does not verify (changed, from another row, another text or another store).
  public static func unpack(_ bytes: [UInt8], id: String, for flow: CompiledFlow, key: SessionKey)
    throws(DecodingError) -> Session
  {
    guard bytes.count > packedTagLength + 2, bytes[0] == packedMagic else {
      throw DecodingError(message: "the stored session is not in the packed format")
    }
    let body = Array(bytes[..<(bytes.count - packedTagLength)])
    let tag = Array(bytes[(bytes.count - packedTagLength)...])
    let expected = packedTag(id: id, contentHash: flow.contentHash, body: body, key: key)
    var difference: UInt8 = 0
    for index in tag.indices { difference |= tag[index] ^ expected[index] }
    guard difference == 0 else {
      throw DecodingError(
        message:
          "the session's authentication tag does not match: it was changed, belongs to another session or flow text, or to another store"
      )
    }
    guard (oldestFormat...formatVersion).contains(Int(body[1])) else {
      throw DecodingError(
        message: "unknown session format \(body[1]); this engine reads format \(formatVersion)")
    }
    let hasTimers = body[1] >= 3
    var reader = Reader(bytes: body, offset: 2)
    do {
      let seq = try reader.int()
      let stateID = try reader.int()
      let startedAt = try reader.int()
      let updatedAt = startedAt &+ (try reader.int())
      let expiresAt = startedAt &+ (try reader.int())
      var enteredAt = updatedAt
      var timersDone = 0
      var deadlineDone = false
      var dueAt: Int?
      if hasTimers {
        enteredAt = startedAt &+ (try reader.int())
        timersDone = try reader.int()
        deadlineDone = try reader.int() != 0
        let due = try reader.int()
        dueAt = due == 0 ? nil : startedAt &+ due &- 1
      }
      guard flow.states.indices.contains(stateID) else {
        throw DecodingError(message: "the session's state is not in the flow")
      }
      var subjects: [String: String] = [:]
      for _ in flow.context {
        let name = try reader.text()
        subjects[name] = try reader.text()
      }
      guard Set(subjects.keys) == Set(flow.context.map(\.name)) else {
        throw DecodingError(message: "the session's subjects do not match the flow's context")
      }
      let versionCount = try reader.int()
      guard (0...16).contains(versionCount) else {
        throw DecodingError(message: "the session's facts versions are malformed")
      }
      var versions: [Int] = []
      for _ in 0..<versionCount { versions.append(try reader.int()) }
      var values: [Value] = []
      values.reserveCapacity(flow.slots.count)
      for slot in flow.slots {
        if slot.kind == .fact || Int(body[1]) < slot.since {
          values.append(FlowMachine.zero(of: slot.type))
          continue
        }
        let value: Value
        switch try reader.byte() {
        case 0: value = .bool(false)
        case 1: value = .bool(true)
        case 2: value = .int(try reader.int())
        case 3: value = .duration(try reader.int())
        case 4: value = .string(try reader.text())
        default: throw DecodingError(message: "the session has a value of an unknown kind")
        }
        guard JSONValue(value).value(as: slot.type) != nil else {
          throw DecodingError(message: "the session has no valid value for '\(slot.name)'")
        }
        values.append(value)
      }
      guard reader.offset == body.count else {
        throw DecodingError(message: "the session holds values the flow does not declare")
      }
      let state = flow.states[stateID]
      return Session(
        id: id, flowID: flow.id, flowVersion: flow.version, contentHash: flow.contentHash,
        stateID: stateID, state: state.name, outcome: state.outcome, values: values,
        slotNames: flow.slots.map(\.name), subjects: subjects, seq: seq, startedAt: startedAt,
        updatedAt: updatedAt, expiresAt: expiresAt, factsVersion: versions, enteredAt: enteredAt,
        timersDone: timersDone, deadlineDone: deadlineDone, dueAt: dueAt)
    } catch let error as DecodingError {
      throw error
    } catch {
      throw DecodingError(message: "the stored session is truncated")
    }
  }

  private static func packedTag(
    id: String, contentHash: String, body: [UInt8], key: SessionKey
  ) -> [UInt8] {
    var input = Array(id.utf8)
    input.append(0)
    input += Array(contentHash.utf8)
    input.append(0)
    input += body
    return Array(key.mac(input).prefix(packedTagLength))
  }

  private static func put(_ value: Int, into out: inout [UInt8]) {
    // Zigzag, then LEB128.
    var bits = UInt64(bitPattern: Int64((value << 1) ^ (value >> 63)))
    while bits >= 0x80 {
      out.append(UInt8(bits & 0x7F) | 0x80)
      bits >>= 7
    }
    out.append(UInt8(bits))
  }

  private static func put(_ bytes: [UInt8], into out: inout [UInt8]) {
    put(bytes.count, into: &out)
    out += bytes
  }

  private struct Truncated: Error {}

  private struct Reader {
    let bytes: [UInt8]
    var offset: Int

    mutating func byte() throws -> UInt8 {
      guard offset < bytes.count else { throw Truncated() }
      defer { offset += 1 }
      return bytes[offset]
    }

    mutating func int() throws -> Int {
      var bits: UInt64 = 0
      var shift: UInt64 = 0
      while true {
        let next = try byte()
        guard shift < 64 else { throw Truncated() }
        bits |= UInt64(next & 0x7F) << shift
        if next < 0x80 { break }
        shift += 7
      }
      let value = Int64(bitPattern: bits)
      return Int((value >> 1) ^ -(value & 1))
    }

    mutating func text() throws -> String {
      let count = try int()
      guard count >= 0, count <= bytes.count - offset else { throw Truncated() }
      defer { offset += count }
      return String(decoding: bytes[offset..<(offset + count)], as: UTF8.self)
    }
  }
}
