public import Foundation
internal import JWTKit

/// Bearer tokens: HS256 JWTs whose `sub` is the calling user's id and whose `exp` is
/// required and checked (SECURITY.md 29). The key is the service's auth key file.
public struct Tokens: Sendable {
  struct Payload: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim

    func verify(using algorithm: some JWTAlgorithm) throws {
      try exp.verifyNotExpired()
    }
  }

  private let keys: JWTKeyCollection

  /// Tokens signed and checked with `key` (at least 32 bytes).
  public init(key: [UInt8]) async throws(TokenError) {
    guard key.count >= 32 else {
      throw TokenError("the auth key must be at least 32 bytes; it has \(key.count)")
    }
    keys = JWTKeyCollection()
    await keys.add(hmac: HMACKey(from: key), digestAlgorithm: .sha256)
  }

  /// Reads an auth key file: its bytes, without a final newline.
  public static func readKey(at path: String) throws(TokenError) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw TokenError("cannot read the auth key file \(path)")
    }
    var bytes = [UInt8](data)
    while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
    return bytes
  }

  /// A token for `user`, valid for `ttl` seconds from `now`.
  public func mint(user: String, ttl: Int, now: Date = Date()) async throws -> String {
    try await keys.sign(
      Payload(
        sub: SubjectClaim(value: user), exp: ExpirationClaim(value: now + TimeInterval(ttl)),
        iat: IssuedAtClaim(value: now)))
  }

  /// The user a token names, or nil when it is malformed, forged or expired.
  public func user(of token: String) async -> String? {
    guard let payload = try? await keys.verify(token, as: Payload.self) else { return nil }
    return payload.sub.value
  }
}

public struct TokenError: Error, Sendable, CustomStringConvertible {
  public var description: String

  init(_ description: String) {
    self.description = description
  }
}
