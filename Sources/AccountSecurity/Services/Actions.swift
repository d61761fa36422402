import FlowEngine

/// The catalog's actions, each a change to `AccountSecurityState` (a value: the caller keeps the
/// change only if the whole step succeeds).
struct Actions {
  var state: AccountSecurityState
  let request: ActionRequest
  let context: SessionContext
  let codes: any CodeGenerator
  let policy: CodePolicy

  var now: Int { request.now }

  mutating func perform() throws(ActionFailure) -> [String: Value] {
    switch request.action {
    case "sendCode": return try sendCode()
    case "verifyCode": return try verifyCode()
    case "disableTwoFactor": return try setTwoFactor(false)
    case "enableTwoFactor": return try setTwoFactor(true)
    case "stagePhone": return ["phone": .string(try phone("phone").e164)]
    case "savePhone": return try savePhone()
    case "invalidatePendingCodes": return invalidatePendingCodes()
    case "notifyNumberChanged": return try notifyNumberChanged()
    case "recordAudit": return try recordAudit()
    default: throw ActionFailure("the services do not offer the action '\(request.action)'")
    }
  }

  // MARK: - Arguments

  private func text(_ name: String) throws(ActionFailure) -> String {
    guard case .string(let value) = request.arguments[name] else {
      throw ActionFailure("argument '\(name)' is missing")
    }
    return value
  }

  private func phone(_ name: String) throws(ActionFailure) -> PhoneNumber {
    let raw = try text(name)
    do {
      return try PhoneNumber(parsing: raw)
    } catch {
      throw ActionFailure("argument '\(name)' \(error.description)")
    }
  }

  private func purpose() throws(ActionFailure) -> CodePurpose {
    guard let purpose = CodePurpose(rawValue: try text("purpose")) else {
      throw ActionFailure("unknown code purpose")
    }
    return purpose
  }

  private func target() throws(ActionFailure) -> User {
    guard let user = state.users[context.target] else {
      throw ActionFailure("unknown user '\(context.target)'")
    }
    return user
  }

  private mutating func audit(_ kind: AuditEntry.Kind, _ detail: String, outcome: String = "ok") {
    state.audit.append(context.entry(kind, at: now, outcome: outcome, detail: detail))
  }

  // MARK: - Codes

  /// Issues a new code for the purpose, voids the user's earlier ones for it, and delivers it.
  private mutating func sendCode() throws(ActionFailure) -> [String: Value] {
    let purpose = try purpose()
    let destination = try phone("to")
    let user = try target()
    let sendKey = "\(user.id)|\(purpose.rawValue)"
    if let last = state.lastSend[sendKey], now - last < policy.resendCooldown {
      let wait = policy.resendCooldown - (now - last)
      throw ActionFailure(
        "a code was sent \(now - last)s ago; wait \(wait)s before sending another")
    }
    var ttl = policy.maxTTL
    if case .duration(let requested) = request.arguments["ttl"] {
      ttl = min(max(1, requested), policy.maxTTL)
    }
    for index in state.codes.indices
    where state.codes[index].user == user.id && state.codes[index].purpose == purpose
      && state.codes[index].isActive
    {
      state.codes[index].invalidated = true
    }
    let code = codes.makeCode()
    let salt = codes.makeSalt()
    state.codes.append(
      IssuedCode(
        id: state.nextCodeID, user: user.id, purpose: purpose, session: context.session,
        destination: destination.e164, salt: salt, hash: IssuedCode.digest(code, salt: salt),
        issuedAt: now,
        expiresAt: now + ttl))
    state.nextCodeID += 1
    state.lastSend[sendKey] = now
    state.outbox.append(
      OutboundMessage(
        channel: .sms, destination: destination.e164,
        body:
          "Your verification code is \(code). It expires in \(Value.format(duration: ttl)). Never share it.",
        sentAt: now, code: code))
    audit(.codeSent, "\(purpose.rawValue) code sent to \(destination.masked)")
    return [:]
  }

  /// Checks a typed code: right, unused, in time, for this user, purpose, session and
  /// destination. Failures count per user and destination across sessions and resends.
  private mutating func verifyCode() throws(ActionFailure) -> [String: Value] {
    let purpose = try purpose()
    let typed = try text("code")
    guard case .int(let requestedLimit) = request.arguments["maxAttempts"] else {
      throw ActionFailure("argument 'maxAttempts' is missing")
    }
    let limit = min(max(1, requestedLimit), policy.maxAttemptsCeiling)
    let user = try target()
    let expected: String
    if request.arguments["to"] != nil {
      expected = try phone("to").e164
    } else {
      expected = user.phone.e164
    }
    let pending = state.codes.lastIndex {
      $0.user == user.id && $0.purpose == purpose && $0.session == context.session && $0.isActive
    }
    let destination = pending.map { state.codes[$0].destination } ?? expected
    let key = AccountSecurityState.failureKey(user: user.id, destination: destination)
    var failures = state.failures[key, default: 0]
    if failures >= limit {
      audit(
        .verificationLocked,
        "\(purpose.rawValue) verification is locked for \(PhoneNumber.mask(destination))",
        outcome: "locked")
      return ["ok": .bool(false), "locked": .bool(true), "failures": .int(failures)]
    }
    var ok = false
    if let pending {
      let code = state.codes[pending]
      ok = code.matches(typed) && now < code.expiresAt && code.destination == expected
      // A code works once, right or wrong in time: a used code is spent.
      if ok { state.codes[pending].used = true }
    }
    if ok {
      state.failures[key] = 0
      if purpose != .disable2FA, var updated = state.users[user.id],
        updated.phone.e164 == destination
      {
        updated.phoneVerified = true
        state.users[user.id] = updated
      }
      audit(
        .verificationSucceeded,
        "\(purpose.rawValue) code verified for \(PhoneNumber.mask(destination))")
      return ["ok": .bool(true), "locked": .bool(false), "failures": .int(0)]
    }
    failures += 1
    state.failures[key] = failures
    audit(
      .verificationFailed,
      "\(purpose.rawValue) code rejected (\(failures) of \(limit)) for \(PhoneNumber.mask(destination))",
      outcome: "failed")
    let locked = failures >= limit
    if locked {
      audit(
        .verificationLocked, "\(purpose.rawValue) verification locked after \(failures) failures",
        outcome: "locked")
    }
    return ["ok": .bool(false), "locked": .bool(locked), "failures": .int(failures)]
  }

  private mutating func invalidatePendingCodes() -> [String: Value] {
    var count = 0
    for index in state.codes.indices
    where state.codes[index].user == context.target && state.codes[index].isActive {
      state.codes[index].invalidated = true
      count += 1
    }
    audit(.codesInvalidated, "\(count) pending code\(count == 1 ? "" : "s") invalidated")
    return [:]
  }

  // MARK: - Profile and 2FA

  /// A session decides on the facts it read when it started. Before it changes a number or
  /// 2FA, those facts must not have grown stale in a way that matters: the actor still an admin
  /// if they were, both users still in their accounts, and 2FA not turned on for the target by
  /// someone else since (an older session must not skip the code that 2FA now demands).
  private func requireFactsStillHold() throws(ActionFailure) {
    let session = request.session
    guard let actor = state.users[context.actor], let target = state.users[context.target] else {
      throw ActionFailure("the actor or the target no longer exists")
    }
    if session.value("actor.role") == .string(Role.admin.rawValue), actor.role != .admin {
      throw ActionFailure("\(actor.id) is no longer an admin; start again")
    }
    if session.value("actor.account") != .string(actor.account)
      || session.value("target.account") != .string(target.account)
    {
      throw ActionFailure(
        "the actor or the target changed accounts since this session started; start again")
    }
    if session.value("target.twoFactor.enabled") == .bool(false), target.twoFactor.enabled {
      throw ActionFailure(
        "2FA was turned on for \(target.id) since this session started; start again")
    }
  }

  private mutating func setTwoFactor(_ enabled: Bool) throws(ActionFailure) -> [String: Value] {
    if !enabled { try requireFactsStillHold() }
    var user = try target()
    user.twoFactor.enabled = enabled
    state.users[user.id] = user
    audit(
      enabled ? .twoFactorEnabled : .twoFactorDisabled, "2FA \(enabled ? "enabled" : "disabled")")
    return [:]
  }

  /// Saves the number on the profile only: call routing is not touched.
  private mutating func savePhone() throws(ActionFailure) -> [String: Value] {
    let number = try phone("phone")
    try requireFactsStillHold()
    var user = try target()
    let previous = user.phone
    user.phone = number
    if previous != number {
      // Proven already when a code sent to it was verified in this session (verify-first flows).
      user.phoneVerified = state.codes.contains {
        $0.user == user.id && $0.destination == number.e164 && $0.used
          && $0.session == context.session
      }
    }
    state.users[user.id] = user
    state.phoneChanges.append(
      PhoneChange(
        user: user.id, previous: previous, current: number, session: context.session, at: now))
    audit(.phoneChanged, "phone changed from \(previous.masked) to \(number.masked)")
    return [:]
  }

  /// Tells the member on every channel on file, with the new number masked and no code.
  private mutating func notifyNumberChanged() throws(ActionFailure) -> [String: Value] {
    let user = try target()
    guard
      let change = state.phoneChanges.last(where: {
        $0.user == user.id && $0.session == context.session
      })
    else { throw ActionFailure("no number change to tell \(user.name) about in this session") }
    let actorName = state.users[context.actor]?.name ?? "an admin"
    let body =
      "The phone number used for two-factor sign-in on your account was changed to \(change.current.masked) by \(actorName). If you did not expect this, contact your admin."
    state.outbox.append(
      OutboundMessage(
        channel: .sms, destination: change.previous.e164, body: body, sentAt: now, code: nil))
    state.outbox.append(
      OutboundMessage(channel: .email, destination: user.email, body: body, sentAt: now, code: nil))
    audit(.memberNotified, "notified at \(change.previous.masked) and by email")
    return [:]
  }

  private mutating func recordAudit() throws(ActionFailure) -> [String: Value] {
    let raw = try text("event")
    guard let kind = AuditEntry.Kind(rawValue: raw) else {
      throw ActionFailure("unknown audit event '\(raw)'")
    }
    audit(kind, "recorded by the flow")
    return [:]
  }
}
