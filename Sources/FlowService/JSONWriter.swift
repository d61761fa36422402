internal import Foundation

/// Writes the service's answers (dictionaries, arrays, text, numbers, true/false and
/// `NSNull`) as JSON with sorted keys, without Foundation's `JSONSerialization`, which costs
/// more than the rest of a step's answer. What it does not know it hands to
/// `JSONSerialization`.
enum JSONWriter {
  static func bytes(_ object: Any) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(512)
    guard write(object, to: &out) else {
      let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
      return [UInt8](data ?? Data("{}".utf8))
    }
    return out
  }

  /// False when a value of an unknown kind was met.
  private static func write(_ value: Any, to out: inout [UInt8]) -> Bool {
    switch value {
    case let text as String: string(text, to: &out)
    case let flag as Bool: out += flag ? Array("true".utf8) : Array("false".utf8)
    case let number as Int: out += Array(String(number).utf8)
    case let number as Double:
      guard number.isFinite else { return false }
      out += Array(
        (number == number.rounded() && abs(number) < 1e15
          ? String(Int(number)) : String(number)).utf8)
    case is NSNull: out += Array("null".utf8)
    case let object as [String: Any]:
      out.append(UInt8(ascii: "{"))
      for (index, key) in object.keys.sorted().enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        string(key, to: &out)
        out.append(UInt8(ascii: ":"))
        guard let field = object[key], write(field, to: &out) else { return false }
      }
      out.append(UInt8(ascii: "}"))
    case let array as [Any]:
      out.append(UInt8(ascii: "["))
      for (index, element) in array.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        guard write(element, to: &out) else { return false }
      }
      out.append(UInt8(ascii: "]"))
    default: return false
    }
    return true
  }

  private static let hex = Array("0123456789abcdef".utf8)

  /// A JSON string: quotes, backslashes and control characters escaped (and `/`, as
  /// `JSONSerialization` does).
  private static func string(_ text: String, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
      case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
      case UInt8(ascii: "/"): out += [UInt8(ascii: "\\"), UInt8(ascii: "/")]
      case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
      case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
      case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
      case 0..<0x20:
        out += [
          UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
          hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
        ]
      default: out.append(byte)
      }
    }
    out.append(UInt8(ascii: "\""))
  }
}
