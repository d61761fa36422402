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
    _ channel: OutboundMessage.Channel, to destination: String, _ message: MessageTemplate,
    code: String?
  ) throws {
    var outbound = OutboundMessage(
      channel: channel, destination: destination, body: message.body, sentAt: now, code: code,
      key: "\(context.session):\(request.session.seq + 1)")
    outbound.subject = message.subject
    try tables.deliver(outbound)
  }

  /// The flow's wording of a message on a channel (the catalog's when the request has none),
  /// filled in.
  private func message(
    _ name: String, variant: String? = nil, channel: OutboundMessage.Channel,
    _ values: [String: String]
  ) throws -> MessageTemplate {
    guard
      let template = request.messages.template(name, variant: variant, channel: channel.rawValue)
        ?? AccountSecurityCatalog.defaultMessages.template(
          name, variant: variant, channel: channel.rawValue)
    else {
      throw ActionFailure("no \(channel.rawValue) wording for the message '\(name)'")
    }
    return template.render(values)
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

  /// The user a code is for: `for: actor` or `for: target` (the default).
  private func owner() throws -> User {
    let id: String
    switch request.arguments["for"] {
    case .string("actor"): id = context.actor
    case nil, .string("target"): id = context.target
    default: throw ActionFailure("argument 'for' must be actor or target")
    }
    guard let user = try tables.user(id) else { throw ActionFailure("unknown user '\(id)'") }
    return user
  }

  private func destination(_ name: String) throws -> Destination {
    let raw = try text(name)
    do throws(DestinationError) {
      return try Destination(parsing: raw)
    } catch {
      throw ActionFailure("argument '\(name)' \(error.description)")
    }
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

  /// Issues a new code for the purpose, voids the user's earlier ones for it, and delivers it
  /// by the destination's channel. Codes that do not prove a new destination go only to one on
  /// file for their user; an email not on file is never sent to.
  private func sendCode() throws -> [String: Value] {
    let purpose = try purpose()
    let destination = try destination("to")
    let user = try owner()
    try requireOwner(of: purpose)
    switch destination {
    case .email(let address) where !Destination.same(address, user.email):
      throw ActionFailure(
        "\(destination.masked) is not an email on file for \(user.name); codes go by email only to the profile's address"
      )
    case .phone(let number) where !purpose.provesDestination && number != user.phone:
      throw ActionFailure(
        "a \(purpose.rawValue) code goes only to the number on file for \(user.name), not to \(number.masked)"
      )
    default: break
    }
    // Per user and purpose (SECURITY.md 10): a typed destination cannot reset it.
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
        destination: destination.text, salt: salt,
        hash: IssuedCode.digest(code, salt: salt, secret: secret),
        issuedAt: now,
        expiresAt: now + ttl))
    try tables.setLastSend(sendKey, now)
    let text = try message(
      "code", variant: purpose.rawValue, channel: destination.channel,
      [
        "code": code, "ttl": Value.format(duration: ttl), "purpose": purpose.rawValue,
        "accountName": try tables.accountName(user.account) ?? user.account,
        "userName": user.name, "maskedPhone": user.phone.masked,
      ])
    try deliver(destination.channel, to: destination.text, text, code: code)
    try audit(.codeSent, "\(purpose.rawValue) code sent to \(destination.masked)")
    return [:]
  }

  /// A step-up code proves who the actor is: it is never the target's.
  private func requireOwner(of purpose: CodePurpose) throws {
    if purpose == .stepUp, request.arguments["for"] != .string("actor") {
      throw ActionFailure("a step-up code is the actor's: the call needs for: actor")
    }
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
    let user = try owner()
    try requireOwner(of: purpose)
    let expected: String
    if request.arguments["to"] != nil {
      expected = try destination("to").text
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
        "\(purpose.rawValue) verification is locked for \(Destination.mask(destination))",
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
        && Destination.same(code.destination, expected)
      // A code works once, right or wrong in time: a used code is spent.
      if ok {
        code.used = true
        try tables.updateCode(code)
      }
    }
    if ok {
      try tables.setFailures(key, 0)
      if purpose.provesDestination, var updated = try tables.user(user.id),
        updated.phone.e164 == destination
      {
        updated.phoneVerified = true
        try tables.saveUser(updated)
      }
      try audit(
        .verificationSucceeded,
        "\(purpose.rawValue) code verified for \(Destination.mask(destination))")
      return [
        "ok": .bool(true), "locked": .bool(false), "failures": .int(0), "expired": .bool(false),
      ]
    }
    failures += 1
    try tables.setFailures(key, failures)
    var entries = [
      entry(
        .verificationFailed,
        "\(purpose.rawValue) code rejected (\(failures) of \(limit)) for \(Destination.mask(destination))",
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
    let values = [
      "maskedPhone": change.current.masked,
      "actorName": try tables.user(context.actor)?.name ?? "an admin",
      "accountName": try tables.accountName(user.account) ?? user.account, "userName": user.name,
    ]
    try deliver(
      .sms, to: change.previous.e164, try message("numberChanged", channel: .sms, values),
      code: nil)
    try deliver(
      .email, to: user.email, try message("numberChanged", channel: .email, values), code: nil)
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
