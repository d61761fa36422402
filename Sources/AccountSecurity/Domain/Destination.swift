/// Where a code or a notice goes: a phone number (by SMS) or an email address (by email). The
/// channel follows from the destination.
public enum Destination: Sendable, Hashable {
  case phone(PhoneNumber)
  case email(String)

  /// Reads a phone number (`+15550100001`) or an email address (`ana@example.test`).
  public init(parsing text: String) throws(DestinationError) {
    let trimmed = text.trimmingWhitespace()
    if trimmed.contains("@") {
      guard let email = EmailAddress.parse(trimmed) else {
        throw DestinationError("must be an email address such as ana@example.com")
      }
      self = .email(email)
      return
    }
    do throws(PhoneNumber.ParseError) {
      self = .phone(try PhoneNumber(parsing: trimmed))
    } catch {
      throw DestinationError(
        "must be a phone number (\(error.description)) or an email address")
    }
  }

  /// The full destination, as the channel needs it: E.164 or the address.
  public var text: String {
    switch self {
    case .phone(let number): number.e164
    case .email(let address): address
    }
  }

  public var channel: OutboundMessage.Channel {
    switch self {
    case .phone: .sms
    case .email: .email
    }
  }

  /// For logs, traces and the audit log.
  public var masked: String { Self.mask(text) }

  /// Masks a stored destination of either kind: `+1******0001`, `a***@example.test`.
  public static func mask(_ text: String) -> String {
    text.contains("@") ? EmailAddress.mask(text) : PhoneNumber.mask(text)
  }

  /// True when two destinations are the same place (emails compare without case).
  public static func same(_ lhs: String, _ rhs: String) -> Bool {
    lhs.contains("@") ? lhs.lowercased() == rhs.lowercased() : lhs == rhs
  }
}

/// Why a text is not a destination.
public struct DestinationError: Error, Sendable, Hashable, CustomStringConvertible {
  public var description: String

  init(_ description: String) {
    self.description = description
  }
}

/// Email addresses as the directory keeps them: trimmed, with one `@` between two non-empty
/// parts and no white space.
public enum EmailAddress {
  public static func parse(_ text: String) -> String? {
    let trimmed = text.trimmingWhitespace()
    let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
      !trimmed.contains(where: \.isWhitespace)
    else { return nil }
    return trimmed
  }

  /// `a***@example.test`: the first character and the domain.
  public static func mask(_ text: String) -> String {
    guard let at = text.firstIndex(of: "@") else { return "***" }
    return String(text.prefix(1)) + "***" + String(text[at...])
  }
}
