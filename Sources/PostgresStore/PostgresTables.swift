internal import AccountSecurity
internal import FlowEngine
internal import Foundation
internal import PostgresNIO

/// The 2FA domain's tables in PostgreSQL, for the actions of one step, inside its transaction.
final class PostgresTables: AccountSecurityTables {
  let link: PostgresLink
  let sealer: OutboxSealer
  private(set) var survivors: [Survivor] = []
  private var deliveriesInStep: [String: Int] = [:]
  /// Outbox rows this transaction wrote (rolled back ones included: a count to wake the
  /// dispatcher, never a count of deliveries).
  private(set) var queuedDeliveries = 0
  /// The users this transaction read or saved.
  private var known = KnownUsers()

  init(link: PostgresLink, sealer: OutboxSealer) {
    self.link = link
    self.sealer = sealer
  }

  func user(_ id: String) throws -> User? {
    if let saved = known.saved(id) { return saved }
    return try load(id)?.user
  }

  func accountName(_ id: String) throws -> String? {
    try link.rows(Statements.AccountName.self, [.text(id)]).first?.text("name")
  }

  private func load(_ id: String) throws -> (user: User, version: Int)? {
    if let read = known.read(id) { return read }
    guard let row = try link.rows(Statements.User.self, [.text(id)]).first else { return nil }
    return try remember(row)
  }

  /// Locks these users' rows against change (`FOR SHARE`: other steps may read them too; one
  /// that changes a user waits for the readers), in id order, and reads them in the same
  /// statement. Their number and settings rows are locked too, so what is read is what the
  /// lock protects, even when the lock had to wait for a writer.
  func lockUsers(_ ids: [String]) throws {
    for row in try link.rows(Statements.LockUsers.self, [.texts(ids)]) {
      let id = try row.text("id")
      if known.saved(id) == nil { _ = try remember(row) }
    }
  }

  /// Keeps the user of a row (`id` and `version` under other names in a session's row).
  @discardableResult
  func remember(_ row: PostgresRandomAccessRow, id: String = "id", version: String = "version")
    throws -> (user: User, version: Int)
  {
    let user = try User(
      storedID: try row.text(id), name: try row.text("name"), role: try row.text("role"),
      account: try row.text("account"), email: try row.text("email"),
      e164: try row.text("e164"), verified: try row.bool("verified"),
      enabled: try row.bool("enabled"), channel: try row.text("channel"))
    let number = try row.int(version)
    known.remember(user, version: number)
    return (user, number)
  }

  /// Writes the rows of `user` that changed (the triggers raise the version).
  func saveUser(_ user: User) throws {
    guard let rows = known.save(user) else {
      try Self.save(user, on: link)
      return
    }
    if rows.contains(.profile) {
      try link.send(
        Statements.UpdateProfile.self,
        [
          .text(user.name), .text(user.role.rawValue), .text(user.account), .text(user.email),
          .text(user.id),
        ])
    }
    if rows.contains(.phone) {
      try link.send(
        Statements.UpdatePhone.self,
        [.text(user.phone.e164), .bool(user.phoneVerified), .text(user.id)])
    }
    if rows.contains(.twoFactor) {
      try link.send(
        Statements.UpdateTwoFactor.self,
        [.bool(user.twoFactor.enabled), .text(user.twoFactor.channel.rawValue), .text(user.id)])
    }
  }

  func version(of user: String) throws -> Int? {
    if let saved = known.saved(user) {
      guard
        let version = try link.rows(Statements.UserVersion.self, [.text(user)])
          .first?.int("version")
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

  static func save(_ user: User, on link: PostgresLink) throws {
    try link.execute(
      """
      INSERT INTO users (id, name, role, account, email) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role,
        account = excluded.account, email = excluded.email
      """,
      [
        .text(user.id), .text(user.name), .text(user.role.rawValue), .text(user.account),
        .text(user.email),
      ])
    try link.execute(
      """
      INSERT INTO phone_numbers (user_id, e164, verified) VALUES ($1, $2, $3)
      ON CONFLICT (user_id) DO UPDATE SET e164 = excluded.e164, verified = excluded.verified
      """, [.text(user.id), .text(user.phone.e164), .bool(user.phoneVerified)])
    try link.execute(
      """
      INSERT INTO two_factor_settings (user_id, enabled, channel) VALUES ($1, $2, $3)
      ON CONFLICT (user_id) DO UPDATE SET enabled = excluded.enabled, channel = excluded.channel
      """,
      [.text(user.id), .bool(user.twoFactor.enabled), .text(user.twoFactor.channel.rawValue)])
  }

  func activeCodes(of user: String) throws -> [IssuedCode] {
    try link.rows(Statements.ActiveCodes.self, [.text(user)]).map(code)
  }

  private func code(_ row: PostgresRandomAccessRow) throws -> IssuedCode {
    let purpose = try row.text("purpose")
    guard let parsed = CodePurpose(rawValue: purpose) else {
      throw StoreIntegrityError("a code has the unknown purpose '\(purpose)'")
    }
    var code = IssuedCode(
      id: try row.int("id"), user: try row.text("user_id"), purpose: parsed,
      session: try row.text("session"),
      destination: try sealer.openText(try row.bytes("destination")), salt: try row.bytes("salt"),
      hash: try row.bytes("hash"), issuedAt: try row.int("issued_at"),
      expiresAt: try row.int("expires_at"))
    code.used = try row.bool("used")
    code.invalidated = try row.bool("invalidated")
    return code
  }

  func insertCode(_ code: IssuedCode) throws -> Int {
    let row = try link.rows(
      Statements.InsertCode.self,
      [
        .text(code.user), .text(code.purpose.rawValue), .text(code.session),
        .bytes(try sealer.sealText(code.destination)), .bytes(code.salt), .bytes(code.hash),
        .int(code.issuedAt), .int(code.expiresAt), .bool(code.used), .bool(code.invalidated),
      ]
    ).first
    guard let id = try row?.int("id") else { throw PostgresStoreError("no id for a new code") }
    return id
  }

  func updateCode(_ code: IssuedCode) throws {
    try link.send(
      Statements.UpdateCode.self,
      [.bool(code.used), .bool(code.invalidated), .int(code.id)])
  }

  /// The destination of a code rests sealed (no full number outside the profile tables), so
  /// the few used codes of the session are opened and compared here.
  func hasUsedCode(user: String, destination: String, session: String) throws -> Bool {
    try link.rows(Statements.UsedCodes.self, [.text(session), .text(user)]).contains {
      try sealer.openText(try $0.bytes("destination")) == destination
    }
  }

  /// Counters are read to be written: the key is locked first, so two steps of one user
  /// count one after the other (never both from the same old value).
  private func lockKey(_ key: String) throws {
    try link.send(Statements.LockCounter.self, [.text("counter\n\(key)")])
  }

  func failures(_ key: String) throws -> Int {
    try lockKey(key)
    return try link.rows(Statements.Failures.self, [.text(key)]).first?.int("count") ?? 0
  }

  func setFailures(_ key: String, _ count: Int) throws {
    try link.send(Statements.SetFailures.self, [.text(key), .int(count)])
  }

  func lastSend(_ key: String) throws -> Int? {
    try lockKey("send\n\(key)")
    return try link.rows(Statements.LastSend.self, [.text(key)]).first?.int("at")
  }

  func setLastSend(_ key: String, _ time: Int) throws {
    try link.send(Statements.SetLastSend.self, [.text(key), .int(time)])
  }

  /// Outbox rows: the message sealed with the store's key (a code never rests in clear), sent
  /// after the step commits by the dispatcher of whichever process claims it.
  func deliver(_ message: OutboundMessage) throws {
    queuedDeliveries += 1
    var message = message
    let index = deliveriesInStep[message.key, default: 0]
    deliveriesInStep[message.key] = index + 1
    message.key += ":\(index)"
    try link.send(
      Statements.InsertOutbox.self,
      [
        .text(message.key), .text(message.channel.rawValue),
        .text(PhoneNumber.mask(message.destination)), .bytes(try sealer.seal(message)),
        .int(message.sentAt),
      ])
  }

  /// Audit entries wait here until the session row is written (they go in the same
  /// statement) or the transaction commits; a savepoint rolled back drops its own.
  func audit(_ entry: AuditEntry) throws {
    pendingAudit.append(entry)
  }

  /// Entries not yet sent.
  private(set) var pendingAudit: [AuditEntry] = []

  /// Drops the entries recorded since `mark` (their savepoint was rolled back).
  func dropAudit(from mark: Int) {
    if mark < pendingAudit.count { pendingAudit.removeSubrange(mark...) }
  }

  /// The waiting entries as the values of a statement's audit arrays (`Statements`); they
  /// are then sent.
  func takeAudit() -> [SQLValue] {
    defer { pendingAudit = [] }
    return Statements.auditArrays(pendingAudit)
  }

  /// The waiting entries themselves; they are then sent.
  func takeAuditEntries() -> [AuditEntry] {
    defer { pendingAudit = [] }
    return pendingAudit
  }

  /// Sends the waiting entries without waiting for the answer (before a commit).
  func flushAudit() throws {
    guard !pendingAudit.isEmpty else { return }
    try link.send(Statements.InsertAudit.self, takeAudit(), alone: true)
  }

  static func insert(_ entry: AuditEntry, on link: PostgresLink) throws {
    try link.execute(Statements.InsertAudit.self, Statements.auditArrays([entry]))
  }

  func lastPhoneChange(user: String, session: String) throws -> PhoneChange? {
    guard
      let row = try link.rows(
        Statements.LastPhoneChange.self, [.text(session), .text(user)]
      ).first
    else { return nil }
    guard let before = try? PhoneNumber(parsing: try sealer.openText(try row.bytes("previous"))),
      let after = try? PhoneNumber(parsing: try sealer.openText(try row.bytes("current")))
    else { throw StoreIntegrityError("a number change this version cannot read") }
    return PhoneChange(
      user: try row.text("user_id"), previous: before, current: after,
      session: try row.text("session"), at: try row.int("at"))
  }

  func recordPhoneChange(_ change: PhoneChange) throws {
    try link.send(
      Statements.InsertPhoneChange.self,
      [
        .text(change.user), .bytes(try sealer.sealText(change.previous.e164)),
        .bytes(try sealer.sealText(change.current.e164)), .text(change.session), .int(change.at),
      ])
  }

  func survive(_ survivor: Survivor) {
    survivors.append(survivor)
  }
}
