public import FlowEngine

/// The vocabulary of the 2FA domain that flows may use: the `user` record they read facts from,
/// the value types of payloads, and the actions the services perform.
///
/// Every flow for this domain declares `actor: user` and `target: user`; actions act on the
/// session's target and record the actor in the audit log.
public enum AccountSecurityCatalog {
  public static let role = ValueType.enumeration(
    name: "role", cases: ["admin", "manager", "technician"])
  public static let channel = ValueType.enumeration(name: "channel", cases: ["sms", "email"])
  public static let codePurpose = ValueType.enumeration(
    name: "codePurpose", cases: ["disable-2fa", "enable-2fa", "confirm-phone"])
  public static let auditEvent = ValueType.enumeration(
    name: "auditEvent",
    cases: ["access-denied", "support-requested", "flow-cancelled", "session-expired"])
  /// An E.164 phone number (`+15550100001`).
  public static let phone = ValueType.scalar(name: "phone")
  /// A verification code as typed by a person: digits only.
  public static let code = ValueType.scalar(name: "code")
  public static let email = ValueType.scalar(name: "email")

  public static let twoFactor = RecordType(
    name: "twoFactor",
    fields: [
      .init("enabled", .bool, summary: "2FA is required at sign-in"),
      .init("channel", channel, summary: "where sign-in codes go"),
    ])

  public static let user = RecordType(
    name: "user",
    fields: [
      .init("id", .string, summary: "stable user id"),
      .init("name", .string, summary: "display name"),
      .init("role", role, summary: "admin, manager or technician"),
      .init("account", .string, summary: "the account (company) the user belongs to"),
      .init("phone", phone, summary: "the number on the profile, used only for 2FA"),
      .init("email", email, summary: "the email on the profile"),
      .init("twoFactor", .record(twoFactor), summary: "2FA settings"),
    ])

  public static let actions: [ActionSignature] = [
    ActionSignature(
      "sendCode",
      summary:
        "Issue a new code for a purpose and deliver it to a phone; earlier codes for that purpose stop working",
      parameters: [
        .init("purpose", codePurpose, summary: "what the code may be used for"),
        .init("to", phone, summary: "the number the code is sent to"),
        .init(
          "ttl", .duration, required: false, summary: "how long the code lives; at most 10m",
          range: 1...600),
      ], leavesFactsAlone: true),
    ActionSignature(
      "verifyCode",
      summary: "Check a code typed by the person; counts failures per user and locks at the limit",
      parameters: [
        .init("purpose", codePurpose, summary: "the purpose the code was issued for"),
        .init("code", code, summary: "the code as typed"),
        .init(
          "maxAttempts", .int, summary: "consecutive failures that lock verification (1 to 100)",
          range: 1...100),
        .init(
          "to", phone, required: false,
          summary: "the number the code must have been sent to (default: the target's number)"),
      ],
      result: [
        .init("ok", .bool, summary: "the code was right, in time and unused"),
        .init("locked", .bool, summary: "verification is locked after too many failures"),
        .init("failures", .int, summary: "consecutive failures so far"),
        .init(
          "expired", .bool,
          summary:
            "the code pending had expired (whatever was typed); the attempt still counts as a failure"
        ),
      ],
      // A verdict is about the code of this step: a later step reads `ok` as false again.
      resultsLastOneStep: true, resultsSince: ["expired": 3]),
    ActionSignature(
      "disableTwoFactor", summary: "Turn 2FA off for the target",
      result: [
        .init(
          "turnedOff", .bool,
          summary: "2FA was on and this session turned it off (a cancel can turn it back on)")
      ]),
    ActionSignature("enableTwoFactor", summary: "Turn 2FA on for the target"),
    ActionSignature(
      "stagePhone", summary: "Remember a new number for this session without saving it",
      parameters: [.init("phone", phone, summary: "the new number")],
      result: [.init("phone", phone, summary: "the staged number")], leavesFactsAlone: true),
    ActionSignature(
      "savePhone",
      summary: "Save a new number on the target's profile (never changes call routing)",
      parameters: [.init("phone", phone, summary: "the new number")],
      result: [.init("saved", .bool, summary: "a number was saved in this session")]),
    ActionSignature(
      "invalidatePendingCodes", summary: "Make every unused code of the target stop working",
      leavesFactsAlone: true),
    ActionSignature(
      "notifyNumberChanged",
      summary:
        "Tell the target on every channel on file that their number changed (masked, no code)",
      leavesFactsAlone: true),
    ActionSignature(
      "recordAudit", summary: "Append an entry to the audit log",
      parameters: [.init("event", auditEvent, summary: "what happened")],
      leavesFactsAlone: true),
  ]

  /// The catalog the validator checks flows of this domain against.
  public static let catalog = Catalog(
    types: [role, channel, codePurpose, phone, code, email, .record(user)],
    actions: actions,
    requiredContext: [("actor", "user"), ("target", "user")],
    scalars: [
      "phone": ScalarRules(
        parse: { text in
          do throws(PhoneNumber.ParseError) {
            return .success(try PhoneNumber(parsing: text).e164)
          } catch {
            return .failure(ScalarError(error.description))
          }
        },
        display: { PhoneNumber.mask($0) }),
      "code": ScalarRules(
        isSecret: true,
        parse: { text in
          let digits = text.trimmingWhitespace()
          guard (6...10).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber })
          else {
            return .failure(ScalarError("must be the 6 to 10 digits of the code"))
          }
          return .success(digits)
        },
        display: { _ in "[hidden]" }),
      "email": ScalarRules(
        parse: { text in
          let trimmed = text.trimmingWhitespace()
          guard trimmed.contains("@"), !trimmed.hasPrefix("@"), !trimmed.hasSuffix("@") else {
            return .failure(ScalarError("must be an email address"))
          }
          return .success(trimmed)
        },
        display: { text in
          guard let at = text.firstIndex(of: "@") else { return "***" }
          return String(text.prefix(1)) + "***" + String(text[at...])
        }),
    ])
}
