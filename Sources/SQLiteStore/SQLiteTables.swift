internal import AccountSecurity
internal import Foundation
internal import GRDB

/// The 2FA domain's tables in SQLite, for the actions of one step, inside its transaction.
final class SQLiteTables: AccountSecurityTables {
  let db: Database
  let sealer: OutboxSealer
  private(set) var survivors: [Survivor] = []
  private var deliveriesInStep: [String: Int] = [:]
  /// The users this transaction read or saved.
  private var known = KnownUsers()

  init(db: Database, sealer: OutboxSealer) {
    self.db = db
    self.sealer = sealer
  }

  func user(_ id: String) throws -> User? {
    if let saved = known.saved(id) { return saved }
    return try load(id)?.user
  }

  func accountName(_ id: String) throws -> String? {
    try String.fetchOne(
      db.cachedStatement(sql: "SELECT name FROM accounts WHERE id = ?"), arguments: [id])
  }

  private func load(_ id: String) throws -> (user: User, version: Int)? {
    if let read = known.read(id) { return read }
    guard
      let row = try Row.fetchOne(
        db.cachedStatement(
          sql: """
            SELECT u.id, u.name, u.role, u.account, u.email, u.version, p.e164, p.verified,
              t.enabled, t.channel
            FROM users u JOIN phone_numbers p ON p.user = u.id
            JOIN two_factor_settings t ON t.user = u.id WHERE u.id = ?
            """), arguments: [id])
    else { return nil }
    let user = try User(
      storedID: row["id"], name: row["name"], role: row["role"], account: row["account"],
      email: row["email"], e164: row["e164"], verified: row["verified"],
      enabled: row["enabled"], channel: row["channel"])
    let version: Int = row["version"]
    known.remember(user, version: version)
    return (user, version)
  }

  /// Writes the rows of `user` that changed (the triggers raise the version).
  func saveUser(_ user: User) throws {
    guard let rows = known.save(user) else {
      try Self.save(user, in: db)
      return
    }
    if rows.contains(.profile) {
      try db.cachedStatement(
        sql: "UPDATE users SET name = ?, role = ?, account = ?, email = ? WHERE id = ?"
      ).execute(arguments: [user.name, user.role.rawValue, user.account, user.email, user.id])
    }
    if rows.contains(.phone) {
      try db.cachedStatement(sql: "UPDATE phone_numbers SET e164 = ?, verified = ? WHERE user = ?")
        .execute(arguments: [user.phone.e164, user.phoneVerified, user.id])
    }
    if rows.contains(.twoFactor) {
      try db.cachedStatement(
        sql: "UPDATE two_factor_settings SET enabled = ?, channel = ? WHERE user = ?"
      ).execute(arguments: [user.twoFactor.enabled, user.twoFactor.channel.rawValue, user.id])
    }
  }

  func version(of user: String) throws -> Int? {
    if let saved = known.saved(user) {
      guard
        let version = try Int.fetchOne(
          db.cachedStatement(sql: "SELECT version FROM users WHERE id = ?"), arguments: [user])
      else { return nil }
      known.remember(saved, version: version)
      return version
    }
    return try load(user)?.version
  }

  /// Forgets what was read (after a savepoint rolled back, the rows may be older again).
  func forgetUsers() {
    known.forget()
  }

  static func save(_ user: User, in db: Database) throws {
    try db.cachedStatement(
      sql: """
        INSERT INTO users (id, name, role, account, email) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role,
          account = excluded.account, email = excluded.email
        """
    ).execute(arguments: [user.id, user.name, user.role.rawValue, user.account, user.email])
    try db.cachedStatement(
      sql: """
        INSERT INTO phone_numbers (user, e164, verified) VALUES (?, ?, ?)
        ON CONFLICT(user) DO UPDATE SET e164 = excluded.e164, verified = excluded.verified
        """
    ).execute(arguments: [user.id, user.phone.e164, user.phoneVerified])
    try db.cachedStatement(
      sql: """
        INSERT INTO two_factor_settings (user, enabled, channel) VALUES (?, ?, ?)
        ON CONFLICT(user) DO UPDATE SET enabled = excluded.enabled, channel = excluded.channel
        """
    ).execute(arguments: [user.id, user.twoFactor.enabled, user.twoFactor.channel.rawValue])
  }

  func activeCodes(of user: String) throws -> [IssuedCode] {
    try Row.fetchAll(
      db.cachedStatement(
        sql: "SELECT * FROM codes WHERE user = ? AND used = 0 AND invalidated = 0 ORDER BY id"),
      arguments: [user]
    ).map(code)
  }

  private func code(_ row: Row) throws -> IssuedCode {
    let purpose: String = row["purpose"]
    guard let parsed = CodePurpose(rawValue: purpose) else {
      throw StoreIntegrityError("a code has the unknown purpose '\(purpose)'")
    }
    let salt: Data = row["salt"]
    let hash: Data = row["hash"]
    let destination: Data = row["destination"]
    var code = IssuedCode(
      id: row["id"], user: row["user"], purpose: parsed, session: row["session"],
      destination: try sealer.openText([UInt8](destination)), salt: [UInt8](salt),
      hash: [UInt8](hash),
      issuedAt: row["issued_at"], expiresAt: row["expires_at"])
    code.used = row["used"]
    code.invalidated = row["invalidated"]
    return code
  }

  func insertCode(_ code: IssuedCode) throws -> Int {
    try db.cachedStatement(
      sql: """
        INSERT INTO codes (user, purpose, session, destination, salt, hash, issued_at, expires_at,
          used, invalidated)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    ).execute(arguments: [
      code.user, code.purpose.rawValue, code.session, Data(try sealer.sealText(code.destination)),
      Data(code.salt),
      Data(code.hash), code.issuedAt, code.expiresAt, code.used, code.invalidated,
    ])
    return Int(db.lastInsertedRowID)
  }

  func updateCode(_ code: IssuedCode) throws {
    try db.cachedStatement(sql: "UPDATE codes SET used = ?, invalidated = ? WHERE id = ?").execute(
      arguments: [code.used, code.invalidated, code.id])
  }

  /// The destination of a code rests sealed (no full number outside the profile tables), so
  /// the few used codes of the session are opened and compared here.
  func hasUsedCode(user: String, destination: String, session: String) throws -> Bool {
    try Data.fetchAll(
      db.cachedStatement(
        sql: "SELECT destination FROM codes WHERE session = ? AND user = ? AND used = 1"),
      arguments: [session, user]
    ).contains { try sealer.openText([UInt8]($0)) == destination }
  }

  func failures(_ key: String) throws -> Int {
    try Int.fetchOne(
      db.cachedStatement(sql: "SELECT count FROM failure_counters WHERE key = ?"), arguments: [key])
      ?? 0
  }

  func setFailures(_ key: String, _ count: Int) throws {
    try db.cachedStatement(
      sql: """
        INSERT INTO failure_counters (key, count) VALUES (?, ?)
        ON CONFLICT(key) DO UPDATE SET count = excluded.count
        """
    ).execute(arguments: [key, count])
  }

  func lastSend(_ key: String) throws -> Int? {
    try Int.fetchOne(
      db.cachedStatement(sql: "SELECT at FROM last_sends WHERE key = ?"), arguments: [key])
  }

  func setLastSend(_ key: String, _ time: Int) throws {
    try db.cachedStatement(
      sql: """
        INSERT INTO last_sends (key, at) VALUES (?, ?)
        ON CONFLICT(key) DO UPDATE SET at = excluded.at
        """
    ).execute(arguments: [key, time])
  }

  /// Outbox rows: the message sealed with the store's key (a code never rests in clear), sent
  /// after the step commits by the dispatcher.
  func deliver(_ message: OutboundMessage) throws {
    var message = message
    let index = deliveriesInStep[message.key, default: 0]
    deliveriesInStep[message.key] = index + 1
    message.key += ":\(index)"
    try db.cachedStatement(
      sql: """
        INSERT INTO outbox (key, channel, destination, sealed, created_at) VALUES (?, ?, ?, ?, ?)
        """
    ).execute(arguments: [
      message.key, message.channel.rawValue, PhoneNumber.mask(message.destination),
      Data(try sealer.seal(message)), message.sentAt,
    ])
  }

  func audit(_ entry: AuditEntry) throws {
    try Self.insert(entry, in: db)
  }

  static func insert(_ entry: AuditEntry, in db: Database) throws {
    try db.cachedStatement(
      sql: """
        INSERT INTO audit (time, kind, actor, target, account, flow, session, outcome, detail)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    ).execute(arguments: [
      entry.time, entry.kind.rawValue, entry.actor, entry.target, entry.account, entry.flow,
      entry.session, entry.outcome, entry.detail,
    ])
  }

  func lastPhoneChange(user: String, session: String) throws -> PhoneChange? {
    guard
      let row = try Row.fetchOne(
        db.cachedStatement(
          sql: """
            SELECT * FROM phone_changes WHERE session = ? AND user = ? ORDER BY id DESC LIMIT 1
            """), arguments: [session, user])
    else { return nil }
    let previous: Data = row["previous"]
    let current: Data = row["current"]
    guard let before = try? PhoneNumber(parsing: try sealer.openText([UInt8](previous))),
      let after = try? PhoneNumber(parsing: try sealer.openText([UInt8](current)))
    else { throw StoreIntegrityError("a number change this version cannot read") }
    return PhoneChange(
      user: row["user"], previous: before, current: after, session: row["session"], at: row["at"])
  }

  func recordPhoneChange(_ change: PhoneChange) throws {
    try db.cachedStatement(
      sql:
        "INSERT INTO phone_changes (user, previous, current, session, at) VALUES (?, ?, ?, ?, ?)"
    ).execute(arguments: [
      change.user, Data(try sealer.sealText(change.previous.e164)),
      Data(try sealer.sealText(change.current.e164)), change.session, change.at,
    ])
  }

  func survive(_ survivor: Survivor) {
    survivors.append(survivor)
  }
}
