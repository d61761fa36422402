/// What a SQL store's transaction knows of users without asking the database again: the
/// users it read (with the version their rows' triggers keep), the users it saved (known,
/// but their version, raised by a trigger, is not), and which of a user's rows a save
/// writes. The SQLite and the PostgreSQL stores share it; they only run the SQL.
public struct KnownUsers: Sendable {
  /// A user's rows: the profile, the phone number, the 2FA settings.
  public enum Rows: Sendable, Hashable {
    case profile, phone, twoFactor
  }

  private var read: [String: (user: User, version: Int)] = [:]
  private var saved: [String: User] = [:]

  public init() {}

  /// The user as read, with their version (nil when not read, or saved since).
  public func read(_ id: String) -> (user: User, version: Int)? { read[id] }

  /// The user as this transaction saved them (nil when not saved).
  public func saved(_ id: String) -> User? { saved[id] }

  /// A user read from the database, with their version.
  public mutating func remember(_ user: User, version: Int) {
    read[user.id] = (user, version)
    saved[user.id] = nil
  }

  /// Records the save of `user` and says which rows it writes: nil for a user not known here
  /// (every row, inserted or replaced), none when nothing changed.
  public mutating func save(_ user: User) -> Set<Rows>? {
    guard let known = read[user.id]?.user ?? saved[user.id] else {
      read[user.id] = nil
      return nil
    }
    if known == user { return [] }
    read[user.id] = nil
    saved[user.id] = user
    var rows: Set<Rows> = []
    if known.name != user.name || known.role != user.role || known.account != user.account
      || known.email != user.email
    {
      rows.insert(.profile)
    }
    if known.phone != user.phone || known.phoneVerified != user.phoneVerified {
      rows.insert(.phone)
    }
    if known.twoFactor != user.twoFactor { rows.insert(.twoFactor) }
    return rows
  }

  /// Forgets everything (after a savepoint rolled back, the rows may be older again).
  public mutating func forget() {
    read = [:]
    saved = [:]
  }
}

extension User {
  /// A user from the columns of a store's row; a role, channel or number this version cannot
  /// read is a `StoreIntegrityError`.
  public init(
    storedID id: String, name: String, role: String, account: String, email: String,
    e164: String, verified: Bool, enabled: Bool, channel: String
  ) throws {
    guard let role = Role(rawValue: role), let channel = Channel(rawValue: channel),
      let number = try? PhoneNumber(parsing: e164)
    else {
      throw StoreIntegrityError("user \(id) has a row this version cannot read")
    }
    self.init(
      id: id, name: name, role: role, account: account, phone: number, email: email,
      twoFactor: TwoFactorSettings(enabled: enabled, channel: channel), phoneVerified: verified)
  }
}
