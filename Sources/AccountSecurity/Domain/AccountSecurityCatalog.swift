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
    name: "codePurpose", cases: CodePurpose.allCases.map(\.rawValue))
  /// Whose code it is: failures, lockout and cooldown count against that user.
  public static let codeOwner = ValueType.enumeration(
    name: "codeOwner", cases: ["actor", "target"])
  public static let auditEvent = ValueType.enumeration(
    name: "auditEvent",
    cases: ["access-denied", "support-requested", "flow-cancelled", "session-expired"])
  /// An E.164 phone number (`+15550100001`).
  public static let phone = ValueType.scalar(name: "phone")
  /// A verification code as typed by a person: digits only.
  public static let code = ValueType.scalar(name: "code")
  public static let email = ValueType.scalar(name: "email")
  /// Where a code goes: a phone (by SMS) or an email (by email).
  public static let destination = ValueType.scalar(name: "destination")

  public static let twoFactor = RecordType(
    name: "twoFactor",
    fields: [
      .init("enabled", .bool, summary: "2FA is required at sign-in"),
      .init("channel", channel, summary: "where sign-in codes go"),
      .init(
        "destination", destination,
        summary: "the phone or the email sign-in codes go to, by the channel"),
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
        "Issue a new code for a purpose and deliver it to a phone (SMS) or an email; earlier codes of that user for that purpose stop working",
      parameters: [
        .init("purpose", codePurpose, summary: "what the code may be used for"),
        .init(
          "to", destination,
          summary:
            "where the code goes; for disable-2fa and step-up only a destination on file for that user (`target.twoFactor.destination`, `target.phone`, `target.email`)"
        ),
        .init(
          "for", codeOwner, required: false,
          summary:
            "whose code it is (default target); a step-up code is the actor's; cooldown counts per that user"
        ),
        .init(
          "ttl", .duration, required: false, summary: "how long the code lives; at most 10m",
          range: 1...600),
      ], leavesFactsAlone: true, rule: codeRule(sends: true)),
    ActionSignature(
      "verifyCode",
      summary:
        "Check a code typed by the person; counts failures per user and destination and locks at the limit",
      parameters: [
        .init("purpose", codePurpose, summary: "the purpose the code was issued for"),
        .init("code", code, summary: "the code as typed"),
        .init(
          "maxAttempts", .int, summary: "consecutive failures that lock verification (1 to 100)",
          range: 1...100),
        .init(
          "to", destination, required: false,
          summary: "where the code must have been sent (default: that user's number on file)"),
        .init(
          "for", codeOwner, required: false,
          summary: "whose code it is (default target); failures count against that user"),
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
      resultsLastOneStep: true, resultsSince: ["expired": 3], rule: codeRule(sends: false)),
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
    types: [role, channel, codePurpose, codeOwner, phone, code, email, destination, .record(user)],
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
          guard let email = EmailAddress.parse(text) else {
            return .failure(ScalarError("must be an email address"))
          }
          return .success(email)
        },
        display: { EmailAddress.mask($0) }),
      "destination": ScalarRules(
        parse: { text in
          do throws(DestinationError) {
            return .success(try Destination(parsing: text).text)
          } catch {
            return .failure(ScalarError(error.description))
          }
        },
        display: { Destination.mask($0) }),
    ],
    scalarUnions: ["destination": ["phone", "email"]],
    messages: messages)

  /// Purposes whose code proves a destination new to the directory: only these may go to a
  /// destination typed during the flow.
  static let provingPurposes: Set<String> = ["confirm-phone", "enable-2fa"]

  /// `sendCode` and `verifyCode` as written: a step-up code is the actor's, and a code that
  /// does not prove a new destination goes only to one on file for its user.
  static func codeRule(sends: Bool) -> ActionRule {
    ActionRule { arguments in
      var violations: [ActionRule.Violation] = []
      let owner = arguments["for"]?.text ?? "target"
      let purpose = arguments["purpose"]?.text ?? ""
      if purpose == CodePurpose.stepUp.rawValue, owner != "actor" {
        violations.append(
          .init(
            argument: arguments["for"] == nil ? "purpose" : "for",
            "a step-up code proves who the actor is, so it is the actor's: add `for: actor` (and send it to `actor.twoFactor.destination`)"
          ))
      }
      if sends, let to = arguments["to"], !provingPurposes.contains(purpose),
        to.path?.first != owner || to.path?.count ?? 0 < 2
      {
        let onFile = [
          "\(owner).twoFactor.destination", "\(owner).phone", "\(owner).email",
        ].map { "`to: \($0)`" }
        violations.append(
          .init(
            argument: "to",
            "a \(purpose) code goes only to a destination on file for the \(owner): use \(onFile.joined(separator: ", ")); '\(to.text)' is not one. Only confirm-phone and enable-2fa codes, which prove a new destination, may go to one typed in the flow"
          ))
      }
      return violations
    }
  }

  /// The messages the services send, with the placeholders each may use and the wording a
  /// flow gets when its `messages:` gives none.
  public static let messages = MessageCatalog(
    signatures: [
      MessageSignature(
        "code", summary: "a verification code (any purpose; a variant per purpose)",
        variants: CodePurpose.allCases.map(\.rawValue),
        placeholders: [
          .init("code", summary: "the code itself", isSecret: true),
          .init("ttl", summary: "how long the code lives (10m)"),
          .init("purpose", summary: "what the code is for (disable-2fa)"),
          .init("accountName", summary: "the user's account (company) name"),
          .init("userName", summary: "the name of the user the code is for"),
          .init("maskedPhone", summary: "that user's number, masked (+1******0001)"),
        ],
        required: ["code"],
        defaults: [
          "sms": MessageTemplate(
            body: "Your verification code is {code}. It expires in {ttl}. Never share it."),
          "email": MessageTemplate(
            subject: "Your {accountName} verification code",
            body:
              "Your verification code is {code}. It expires in {ttl}. Never share it; we will never ask you for it."
          ),
        ]),
      MessageSignature(
        "numberChanged",
        summary: "tells a member that their 2FA number was changed (no code, number masked)",
        placeholders: [
          .init("maskedPhone", summary: "the new number, masked (+1******0001)"),
          .init("actorName", summary: "who changed it"),
          .init("accountName", summary: "the account (company) name"),
          .init("userName", summary: "the member's name"),
        ],
        defaults: [
          "sms": MessageTemplate(body: numberChangedText),
          "email": MessageTemplate(
            subject: "Your two-factor sign-in number was changed", body: numberChangedText),
        ]),
    ],
    channels: [
      MessageChannel("sms", hasSubject: false), MessageChannel("email", hasSubject: true),
    ],
    lint: fullNumbers)

  /// The catalog's wording, for requests that carry none of a flow's.
  static let defaultMessages = FlowMessages(definitions: [], catalog: messages)

  static let numberChangedText =
    "The phone number used for two-factor sign-in on your account was changed to {maskedPhone} by {actorName}. If you did not expect this, contact your admin."

  /// Runs of seven or more digits (spaces, dots, dashes and brackets between them allowed):
  /// a full phone number has no place in a template; `{maskedPhone}` shows one masked.
  static func fullNumbers(_ text: String) -> [TextProblem] {
    var problems: [TextProblem] = []
    let scalars = Array(text.unicodeScalars)
    var index = 0
    while index < scalars.count {
      guard ("0"..."9").contains(scalars[index]) || scalars[index] == "+" else {
        index += 1
        continue
      }
      var end = index
      var digits = 0
      var lastDigit = index
      while end < scalars.count {
        let scalar = scalars[end]
        if ("0"..."9").contains(scalar) {
          digits += 1
          lastDigit = end
        } else if !(scalar == "+" && end == index) && !" .-()".unicodeScalars.contains(scalar) {
          break
        }
        end += 1
      }
      if digits >= 7 {
        problems.append(
          TextProblem(
            offset: index, length: lastDigit - index + 1,
            message:
              "a message must not contain a full phone number; use {maskedPhone}, which shows it masked"
          ))
      }
      index = max(end, index + 1)
    }
    return problems
  }
}
