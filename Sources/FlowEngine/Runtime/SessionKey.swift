internal import Crypto
internal import Foundation

/// The secret a store signs its sessions with (HMAC-SHA256). Bytes of a session held outside
/// the store carry a tag made with it, and a session whose tag does not verify is refused
/// (SECURITY.md 28). The same key makes the digest of a session's facts, so a session can tell
/// whether the directory changed under it without holding any fact itself.
public struct SessionKey: Sendable {
  /// The raw bytes, for the store that keeps the key.
  public let bytes: [UInt8]

  /// A key of 32 random bytes from the system's secure generator.
  public static func random() -> SessionKey {
    var generator = SystemRandomNumberGenerator()
    return SessionKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })!
  }

  /// A key from 64 (or more, an even number of) hexadecimal digits.
  public init?(hex: String) {
    let digits = Array(hex.utf8)
    guard digits.count >= 64, digits.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    for index in stride(from: 0, to: digits.count, by: 2) {
      guard let high = Self.nibble(digits[index]), let low = Self.nibble(digits[index + 1]) else {
        return nil
      }
      bytes.append(high << 4 | low)
    }
    self.bytes = bytes
  }

  /// The key as hexadecimal digits (for the file that keeps it).
  public var hex: String { Self.hex(bytes) }

  private static func nibble(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
    default: nil
    }
  }

  /// A key from stored bytes (at least 32).
  public init?(bytes: [UInt8]) {
    guard bytes.count >= 32 else { return nil }
    self.bytes = bytes
  }

  /// HMAC-SHA256 of `data`, as 64 lowercase hex digits.
  public func tag(_ data: some Sequence<UInt8>) -> String {
    Self.hex(mac(Array(data)))
  }

  /// HMAC-SHA256 of `data`, as 32 bytes.
  func mac(_ data: [UInt8]) -> [UInt8] {
    Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: bytes)))
  }

  /// Compares a tag in time that does not depend on where it differs.
  func verify(_ tag: String, for data: some Sequence<UInt8>) -> Bool {
    let expected = Array(self.tag(data).utf8)
    let given = Array(tag.utf8)
    guard expected.count == given.count else { return false }
    var difference: UInt8 = 0
    for index in expected.indices { difference |= expected[index] ^ given[index] }
    return difference == 0
  }

  /// Bytes as lowercase hex digits, two a byte.
  public static func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
      out.append(digits[Int(byte >> 4)])
      out.append(digits[Int(byte & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
  }
}

/// 128-bit random session ids (SECURITY.md 24), as 32 hex digits.
public enum SessionID {
  public static func random() -> String {
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    return SessionKey.hex(bytes)
  }
}
