internal import Crypto
internal import FlowEngine

/// What a code may be used for; a code issued for one purpose fails for any other.
public enum CodePurpose: String, Sendable, Hashable, Codable, CaseIterable {
  case disable2FA = "disable-2fa"
  case enable2FA = "enable-2fa"
  case confirmPhone = "confirm-phone"
  /// The actor proves who they are before a sensitive change to someone else.
  case stepUp = "step-up"

  /// True for purposes whose code proves a destination new to the directory.
  public var provesDestination: Bool { self == .enable2FA || self == .confirmPhone }
}

/// A code as stored: never the code itself, only a salted hash, and what it is bound to
/// (user, purpose, session, destination) and when it expires (SECURITY.md 1–6).
public struct IssuedCode: Sendable, Hashable {
  public var id: Int
  public var user: String
  public var purpose: CodePurpose
  public var session: String
  public var destination: String
  public var salt: [UInt8]
  public var hash: [UInt8]
  public var issuedAt: Int
  public var expiresAt: Int
  public var used = false
  public var invalidated = false

  public init(
    id: Int, user: String, purpose: CodePurpose, session: String, destination: String,
    salt: [UInt8],
    hash: [UInt8], issuedAt: Int, expiresAt: Int
  ) {
    self.id = id
    self.user = user
    self.purpose = purpose
    self.session = session
    self.destination = destination
    self.salt = salt
    self.hash = hash
    self.issuedAt = issuedAt
    self.expiresAt = expiresAt
  }

  var isActive: Bool { !used && !invalidated }

  /// HMAC-SHA256 with the store's secret over the salt and the code: without the secret, a
  /// stored hash cannot be tested against the million possible codes.
  public static func digest(_ code: String, salt: [UInt8], secret: [UInt8]) -> [UInt8] {
    mac(salt + Array(code.utf8), secret: secret)
  }

  static func mac(_ data: [UInt8], secret: [UInt8]) -> [UInt8] {
    Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: secret)))
  }

  static func hex(_ bytes: [UInt8]) -> String { SessionKey.hex(bytes) }

  /// Compares in time that depends only on the length, never on where the first difference is.
  public static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
  }

  public func matches(_ code: String, secret: [UInt8]) -> Bool {
    Self.constantTimeEqual(Self.digest(code, salt: salt, secret: secret), hash)
  }
}

/// Makes verification codes. Injected so tests and dry runs can be deterministic.
public protocol CodeGenerator: Sendable {
  /// A new code of decimal digits.
  func makeCode() -> String
  /// Random bytes for salts.
  func makeSalt() -> [UInt8]
}

/// Codes from the system's cryptographically secure generator (SECURITY.md 1).
public struct SecureCodeGenerator: CodeGenerator {
  public let digits: Int

  public init(digits: Int = 6) {
    precondition(digits >= 6, "codes have at least 6 digits")
    self.digits = digits
  }

  public func makeCode() -> String {
    var generator = SystemRandomNumberGenerator()
    return String(
      (0..<digits).map { _ in Character(String(Int.random(in: 0...9, using: &generator))) })
  }

  public func makeSalt() -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
  }
}

/// Deterministic codes from a seed, for tests and dry runs only (never for real delivery).
public final class SeededCodeGenerator: CodeGenerator, @unchecked Sendable {
  private var state: UInt64
  private let lock = ReentrantLock()

  public init(seed: UInt64 = 0x2FA) {
    state = seed == 0 ? 1 : seed
  }

  private func next() -> UInt64 {
    lock.withLock {
      // SplitMix64.
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
  }

  /// Never "000000": scripts and the path explorer use it as a code that is always wrong.
  public func makeCode() -> String {
    while true {
      let number = next() % 1_000_000
      if number == 0 { continue }
      let text = String(number)
      return String(repeating: "0", count: 6 - text.count) + text
    }
  }

  public func makeSalt() -> [UInt8] {
    (0..<2).flatMap { _ in withUnsafeBytes(of: next()) { Array($0) } }
  }
}
