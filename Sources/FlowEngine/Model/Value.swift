/// A value that flows, guards and sessions handle.
public enum Value: Sendable, Hashable, CustomStringConvertible {
  case string(String)
  case int(Int)
  case bool(Bool)
  /// A span of time in whole seconds.
  case duration(Int)

  public var description: String {
    switch self {
    case .string(let text): "\"\(text)\""
    case .int(let number): String(number)
    case .bool(let flag): String(flag)
    case .duration(let seconds): Value.format(duration: seconds)
    }
  }

  /// Writes a duration the way flows do: `10m`, `90s`, `2h`, `1d`.
  public static func format(duration seconds: Int) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)]
    where seconds != 0 && seconds % size == 0 {
      return "\(seconds / size)\(unit)"
    }
    return "\(seconds)s"
  }

  /// The longest duration accepted anywhere (100 years), so clocks and deadlines never overflow.
  public static let maxDuration = 100 * 365 * 86_400

  /// Reads `10m`, `30s`, `2h`, `1d` into seconds; nil for anything else (or beyond 100 years).
  public static func parseDuration(_ text: some StringProtocol) -> Int? {
    guard let unit = text.last, text.count >= 2 else { return nil }
    let digits = text.dropLast()
    guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let amount = Int(digits)
    else {
      return nil
    }
    let scale: Int
    switch unit {
    case "s": scale = 1
    case "m": scale = 60
    case "h": scale = 3_600
    case "d": scale = 86_400
    default: return nil
    }
    let (result, overflow) = amount.multipliedReportingOverflow(by: scale)
    return overflow || result > maxDuration ? nil : result
  }
}
