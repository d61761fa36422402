/// A role in an account. Admins manage the team; the others do the field and office work.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable {
  case admin
  case manager
  case technician
}

/// Where sign-in codes go when 2FA is on.
public enum Channel: String, Sendable, Hashable, Codable, CaseIterable {
  case sms
  case email
}

public struct TwoFactorSettings: Sendable, Hashable, Codable {
  public var enabled: Bool
  public var channel: Channel

  public init(enabled: Bool, channel: Channel = .sms) {
    self.enabled = enabled
    self.channel = channel
  }
}

/// A company using the product; users belong to exactly one.
public struct Account: Sendable, Hashable, Codable {
  public var id: String
  public var name: String

  public init(id: String, name: String) {
    self.id = id
    self.name = name
  }
}

/// A person who signs in. The profile phone is used only for 2FA, never for call routing.
public struct User: Sendable, Hashable, Codable {
  public var id: String
  public var name: String
  public var role: Role
  public var account: String
  public var phone: PhoneNumber
  public var email: String
  public var twoFactor: TwoFactorSettings
  /// False after the number changed until a code sent to it is verified (SECURITY.md 13).
  public var phoneVerified: Bool

  public init(
    id: String, name: String, role: Role, account: String, phone: PhoneNumber, email: String,
    twoFactor: TwoFactorSettings, phoneVerified: Bool = true
  ) {
    self.id = id
    self.name = name
    self.role = role
    self.account = account
    self.phone = phone
    self.email = email
    self.twoFactor = twoFactor
    self.phoneVerified = phoneVerified
  }
}

extension User {
  /// Where this user's sign-in codes go: the phone or the email, by their 2FA channel.
  public var twoFactorDestination: String {
    twoFactor.channel == .email ? email : phone.e164
  }
}
