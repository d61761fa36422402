/// A phone number in E.164 form: `+`, a country code and subscriber number, 8 to 15 digits.
///
/// People type numbers with spaces, dashes, dots and parentheses; those are dropped. Anything
/// else (letters, a missing `+`, too few or too many digits) is refused with a reason.
public struct PhoneNumber: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The canonical form, e.g. `+15550100001`.
  public let e164: String

  public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
    case missingPlus
    case invalidCharacter(Character)
    case tooShort(digits: Int)
    case tooLong(digits: Int)
    case leadingZero

    public var description: String {
      switch self {
      case .missingPlus: "must start with + and the country code (E.164), for example +15550100001"
      case .invalidCharacter(let character):
        "must contain only digits after the +; found '\(character)'"
      case .tooShort(let digits): "has \(digits) digits; an E.164 number has 8 to 15"
      case .tooLong(let digits): "has \(digits) digits; an E.164 number has at most 15"
      case .leadingZero: "cannot have a country code starting with 0"
      }
    }
  }

  public init(parsing text: String) throws(ParseError) {
    // Bytes, not Characters: this runs for every number a step reads, types or shows.
    var digits: [UInt8] = [UInt8(ascii: "+")]
    digits.reserveCapacity(16)
    var started = false
    var trailingSpace = false
    for byte in text.utf8 {
      if !started {
        if byte == UInt8(ascii: " ") || byte == 9 || byte == 10 || byte == 13 { continue }
        guard byte == UInt8(ascii: "+") else {
          if byte < 0x80 { throw .missingPlus }
          self = try Self(slowParsing: text)
          return
        }
        started = true
        continue
      }
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"):
        if trailingSpace {
          self = try Self(slowParsing: text)
          return
        }
        digits.append(byte)
      case UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "("),
        UInt8(ascii: ")"):
        continue
      case 9, 10, 13:
        trailingSpace = true
      default:
        self = try Self(slowParsing: text)
        return
      }
    }
    guard started else { throw .missingPlus }
    let count = digits.count - 1
    guard count == 0 || digits[1] != UInt8(ascii: "0") else { throw .leadingZero }
    guard count >= 8 else { throw .tooShort(digits: count) }
    guard count <= 15 else { throw .tooLong(digits: count) }
    e164 = String(decoding: digits, as: UTF8.self)
  }

  /// The same rules over Characters, for text with anything but ASCII digits and separators
  /// (it finds the character to name in the error).
  private init(slowParsing text: String) throws(ParseError) {
    let trimmed = text.trimmingWhitespace()
    guard trimmed.first == "+" else { throw .missingPlus }
    var digits = ""
    for character in trimmed.dropFirst() {
      if character.isASCII, character.isNumber {
        digits.append(character)
      } else if " -.()".contains(character) {
        continue
      } else {
        throw .invalidCharacter(character)
      }
    }
    guard digits.first != "0" else { throw .leadingZero }
    guard digits.count >= 8 else { throw .tooShort(digits: digits.count) }
    guard digits.count <= 15 else { throw .tooLong(digits: digits.count) }
    e164 = "+" + digits
  }

  /// For logs, traces and the audit log: `+1******0001` (first digit and last four kept).
  public var masked: String { Self.mask(e164) }

  public var description: String { masked }

  /// Masks any text as a phone number would be; short text is hidden entirely.
  public static func mask(_ text: String) -> String {
    let bytes = Array(text.utf8)
    if bytes.allSatisfy({ $0 < 0x80 }) {
      guard bytes.count > 6 else { return String(repeating: "*", count: bytes.count) }
      var out = Array(bytes.prefix(2))
      out += repeatElement(UInt8(ascii: "*"), count: bytes.count - 6)
      out += bytes.suffix(4)
      return String(decoding: out, as: UTF8.self)
    }
    let characters = Array(text)
    guard characters.count > 6 else { return String(repeating: "*", count: characters.count) }
    return String(characters.prefix(2)) + String(repeating: "*", count: characters.count - 6)
      + String(characters.suffix(4))
  }
}

extension String {
  /// The text without leading and trailing white space.
  public func trimmingWhitespace() -> String {
    var slice = Substring(self)
    while slice.first?.isWhitespace == true { slice = slice.dropFirst() }
    while slice.last?.isWhitespace == true { slice = slice.dropLast() }
    return String(slice)
  }
}
