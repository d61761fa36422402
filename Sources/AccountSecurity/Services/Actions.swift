import FlowEngine

/// The catalog's actions, each a change to the domain's tables inside the step's transaction
/// (the store keeps the change only if the whole step succeeds, survivors aside).
struct Actions<Tables: AccountSecurityTables> {
  let tables: Tables
  let request: ActionRequest
  let context: SessionContext
  let codes: any CodeGenerator
  let policy: CodePolicy
  let secret: [UInt8]

  var now: Int { request.now }

  /// Deliveries of this action, keyed by the session and the `seq` its step commits; the
  /// tables number them within the step.
  private func deliver(
    _ channel: OutboundMessage.Channel, to destination: String, _ body: String, code: String?
  ) throws {
    try tables.deliver(
      OutboundMessage(
        channel: channel, destination: destination, body: body, sentAt: now, code: code,
        key: "\(context.session):\(request.session.seq + 1)"))
  }

  func perform() throws -> [String: Value] {
    switch request.action {
    case "sendCode": return try sendCode()
    case "verifyCode": return try verifyCode()
    case "disableTwoFactor": return try setTwoFactor(false)
    case "enableTwoFactor": return try setTwoFactor(true)
    case "stagePhone": return ["phone": .string(try phone("phone").e164)]
    case "savePhone": return try savePhone()
    case "invalidatePendingCodes": return try invalidatePendingCodes()
    case "notifyNumberChanged": return try notifyNumberChanged()
    case "recordAudit": return try recordAudit()
    default: throw ActionFailure("the services do not offer the action '\(request.action)'")
    }
  }

  // MARK: - Arguments

  private func text(_ name: String) throws -> String {
    guard case .string(let value) = request.arguments[name] else {
      throw ActionFailure("argument '\(name)' is missing")
    }
    return value
  }

  private func phone(_ name: String) throws -> PhoneNumber {
    let raw = try text(name)
    do {
      return try PhoneNumber(parsing: raw)
    } catch {
      throw ActionFailure("argument '\(name)' \(error.description)")
    }
  }

  private func purpose() throws -> CodePurpose {
    guard let purpose = CodePurpose(rawValue: try text("purpose")) else {
      throw ActionFailure("unknown code purpose")
    }
    return purpose
  }

  private func target() throws -> User {
    guard let user = try tables.user(context.target) else {
      throw ActionFailure("unknown user '\(context.target)'")
    }
    return user
  }

  private func audit(_ kind: AuditEntry.Kind, _ detail: String, outcome: String = "ok") throws {
    try tables.audit(entry(kind, detail, outcome: outcome))
  }

  private func entry(_ kind: AuditEntry.Kind, _ detail: String, outcome: String = "ok")
    -> AuditEntry
  {
    context.entry(kind, at: now, outcome: outcome, detail: detail)
  }

  // MARK: - Codes

  /// Issues a new code for the purpose, voids the user's earlier ones for it, and delivers it.
  private func sendCode() throws -> [String: Value] {
    let purpose = try purpose()
    let destination = try phone("to")
    let user = try target()
    let sendKey = "\(user.id)|\(purpose.rawValue)"
    if let last = try tables.lastSend(sendKey), now - last < policy.resendCooldown {
      let wait = policy.resendCooldown - (now - last)
      throw ActionFailure(
        "a code was sent \(now - last)s ago; wait \(wait)s before sending another")
    }
    var ttl = policy.maxTTL
    if case .duration(let requested) = request.arguments["ttl"] {
      ttl = min(max(1, requested), policy.maxTTL)
    }
    for var code in try tables.activeCodes(of: user.id) where code.purpose == purpose {
      code.invalidated = true
      try tables.updateCode(code)
    }
    let code = codes.makeCode()
    let salt = codes.makeSalt()
    _ = try tables.insertCode(
      IssuedCode(
        id: 0, user: user.id, purpose: purpose, session: context.session,
        destination: destination.e164, salt: salt,
        hash: IssuedCode.digest(code, salt: salt, secret: secret),
        issuedAt: now,
        expiresAt: now + ttl))
    try tables.setLastSend(sendKey, now)
    try deliver(
      .sms, to: destination.e164,
      "Your verification code is \(code). It expires in \(Value.format(duration: ttl)). Never share it.",
      code: code)
    try audit(.codeSent, "\(purpose.rawValue) code sent to \(destination.masked)")
    return [:]
  }

  /// Checks a typed code: right, unused, in time, for this user, purpose, session and
  /// destination. Failures count per user and destination across sessions and resends.
  private func verifyCode() throws -> [String: Value] {
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
    let pending = try tables.activeCodes(of: user.id).last {
      $0.purpose == purpose && $0.session == context.session
    }
    let destination = pending?.destination ?? expected
    let key = AccountSecurityState.failureKey(
      user: user.id, destination: destination, secret: secret)
    var failures = try tables.failures(key)
    if failures >= limit {
      let locked = entry(
        .verificationLocked,
        "\(purpose.rawValue) verification is locked for \(PhoneNumber.mask(destination))",
        outcome: "locked")
      try tables.audit(locked)
      tables.survive(.audit([locked]))
      return [
        "ok": .bool(false), "locked": .bool(true), "failures": .int(failures),
        "expired": .bool(false),
      ]
    }
    // The code pending had run out of time, whatever was typed (no hint whether it matched).
    let expired = pending.map { now >= $0.expiresAt } ?? false
    var ok = false
    if var code = pending {
      ok =
        code.matches(typed, secret: secret) && now < code.expiresAt
        && code.destination == expected
      // A code works once, right or wrong in time: a used code is spent.
      if ok {
        code.used = true
        try tables.updateCode(code)
      }
    }
    if ok {
      try tables.setFailures(key, 0)
      if purpose != .disable2FA, var updated = try tables.user(user.id),
        updated.phone.e164 == destination
      {
        updated.phoneVerified = true
        try tables.saveUser(updated)
      }
      try audit(
        .verificationSucceeded,
        "\(purpose.rawValue) code verified for \(PhoneNumber.mask(destination))")
      return [
        "ok": .bool(true), "locked": .bool(false), "failures": .int(0), "expired": .bool(false),
      ]
    }
    failures += 1
    try tables.setFailures(key, failures)
    var entries = [
      entry(
        .verificationFailed,
        "\(purpose.rawValue) code rejected (\(failures) of \(limit)) for \(PhoneNumber.mask(destination))",
        outcome: "failed")
    ]
    let locked = failures >= limit
    if locked {
      entries.append(
        entry(
          .verificationLocked,
          "\(purpose.rawValue) verification locked after \(failures) failures", outcome: "locked"))
    }
    for entry in entries { try tables.audit(entry) }
    // Counted and audited whatever else happens in this step (SECURITY.md 26).
    tables.survive(.failedAttempt(key: key, audit: entries))
    return [
      "ok": .bool(false), "locked": .bool(locked), "failures": .int(failures),
      "expired": .bool(expired),
    ]
  }

  private func invalidatePendingCodes() throws -> [String: Value] {
    var count = 0
    for var code in try tables.activeCodes(of: context.target) {
      code.invalidated = true
      try tables.updateCode(code)
      count += 1
    }
    try audit(.codesInvalidated, "\(count) pending code\(count == 1 ? "" : "s") invalidated")
    return [:]
  }

  // MARK: - Profile and 2FA

  private func setTwoFactor(_ enabled: Bool) throws -> [String: Value] {
    var user = try target()
    let wasEnabled = user.twoFactor.enabled
    user.twoFactor.enabled = enabled
    try tables.saveUser(user)
    try audit(
      enabled ? .twoFactorEnabled : .twoFactorDisabled, "2FA \(enabled ? "enabled" : "disabled")")
    return enabled ? [:] : ["turnedOff": .bool(wasEnabled)]
  }

  /// Saves the number on the profile only: call routing is not touched.
  private func savePhone() throws -> [String: Value] {
    let number = try phone("phone")
    var user = try target()
    let previous = user.phone
    user.phone = number
    if previous != number {
      // Proven already when a code sent to it was verified in this session (verify-first flows).
      user.phoneVerified = try tables.hasUsedCode(
        user: user.id, destination: number.e164, session: context.session)
    }
    try tables.saveUser(user)
    try tables.recordPhoneChange(
      PhoneChange(
        user: user.id, previous: previous, current: number, session: context.session, at: now))
    try audit(.phoneChanged, "phone changed from \(previous.masked) to \(number.masked)")
    return ["saved": .bool(true)]
  }

  /// Tells the member on every channel on file, with the new number masked and no code.
  private func notifyNumberChanged() throws -> [String: Value] {
    let user = try target()
    guard let change = try tables.lastPhoneChange(user: user.id, session: context.session) else {
      throw ActionFailure("no number change to tell \(user.name) about in this session")
    }
    let actorName = try tables.user(context.actor)?.name ?? "an admin"
    let body =
      "The phone number used for two-factor sign-in on your account was changed to \(change.current.masked) by \(actorName). If you did not expect this, contact your admin."
    try deliver(.sms, to: change.previous.e164, body, code: nil)
    try deliver(.email, to: user.email, body, code: nil)
    try audit(.memberNotified, "notified at \(change.previous.masked) and by email")
    return [:]
  }

  private func recordAudit() throws -> [String: Value] {
    let raw = try text("event")
    guard let kind = AuditEntry.Kind(rawValue: raw) else {
      throw ActionFailure("unknown audit event '\(raw)'")
    }
    try audit(kind, "recorded by the flow")
    return [:]
  }
}
