internal import Crypto
public import FlowEngine
internal import Foundation

/// Seals outbox messages (which carry codes in clear, for the provider), and the numbers codes
/// were sent to and changed from, with a key derived from the store's, so that a copy of the
/// database shows no code and no full number outside the profile (SECURITY.md 6, 20).
public struct OutboxSealer: Sendable {
  private let keyBytes: [UInt8]

  public init(_ sessionKey: SessionKey) {
    keyBytes = Self.derive(sessionKey, "outbox v1")
  }

  /// A key for one purpose, derived from the store's (HKDF-SHA256).
  public static func derive(_ sessionKey: SessionKey, _ purpose: String) -> [UInt8] {
    HKDF<SHA256>.deriveKey(
      inputKeyMaterial: SymmetricKey(data: sessionKey.bytes), info: Array(purpose.utf8),
      outputByteCount: 32
    ).withUnsafeBytes { Array($0) }
  }

  private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

  /// A text (a phone number) sealed, for columns that must not show it.
  public func sealText(_ text: String) throws -> [UInt8] {
    Array(try ChaChaPoly.seal(Array(text.utf8), using: key).combined)
  }

  public func openText(_ sealed: [UInt8]) throws -> String {
    let box = try ChaChaPoly.SealedBox(combined: sealed)
    return String(decoding: try ChaChaPoly.open(box, using: key), as: UTF8.self)
  }

  public func seal(_ message: OutboundMessage) throws -> [UInt8] {
    let plain = try JSONEncoder().encode(message)
    return Array(try ChaChaPoly.seal(plain, using: key).combined)
  }

  public func open(_ sealed: [UInt8]) throws -> OutboundMessage {
    let box = try ChaChaPoly.SealedBox(combined: sealed)
    return try JSONDecoder().decode(OutboundMessage.self, from: ChaChaPoly.open(box, using: key))
  }
}
