import AccountSecurity
import FlowEngine
import Foundation
import Testing

/// One test per line of SECURITY.md, named after the line, through the public API.
@Suite("SECURITY.md")
struct SecurityChecklistTests {
  static let current = "+15550100001"
  static let newNumber = "+15550109999"

  static func disableCode(_ run: inout Harness) -> String {
    run.send("disable2FA")
    return run.lastCode(to: current)!
  }

  // MARK: Verification codes

  @Test("1. At least 6 digits from a cryptographically secure generator")
  func line01() throws {
    let generator = SecureCodeGenerator()
    let codes = (0..<2_000).map { _ in generator.makeCode() }
    #expect(codes.allSatisfy { $0.count == 6 && $0.allSatisfy(\.isNumber) })
    #expect(Set(codes).count > 1_900, "codes do not repeat like a weak generator's")
    // Each digit position uses all ten digits about equally (a crude check on the source).
    for position in 0..<6 {
      let counts = Dictionary(grouping: codes.map { Array($0)[position] }, by: { $0 }).mapValues(
        \.count)
      #expect(counts.count == 10)
      #expect(counts.values.allSatisfy { (120...290).contains($0) })
    }
    #expect(generator.makeSalt().count == 16)
    // The services use the secure generator unless a test injects another.
    let services = InMemoryAccountSecurity(clock: ManualClock())
    #expect(services.codes is SecureCodeGenerator)
  }

  @Test("2. A code expires 10 minutes after it is issued; at 10:01 it fails")
  func line02() throws {
    var inTime = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let code = Self.disableCode(&inTime)
    inTime.clock.advance(by: 9 * 60 + 59)
    inTime.send("submitCode", ["code": .string(code)])
    #expect(inTime.session.state == "editingPhone", "at 9:59 it works")

    var late = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let lateCode = Self.disableCode(&late)
    late.clock.advance(by: 10 * 60 + 1)
    late.send("submitCode", ["code": .string(lateCode)])
    #expect(late.session.state == "verifyingCurrentNumber", "at 10:01 it fails")
    #expect(late.user("ada").twoFactor.enabled)

    // Sooner if the flow says so: the verify-first edit gives codes 5 minutes.
    var sooner = try Harness(ProductEditTests.path, actor: "ada", target: "ada")
    sooner.send("editPhone", ["phone": .string(Self.newNumber)])
    let code5 = try #require(sooner.lastCode(to: Self.newNumber))
    sooner.clock.advance(by: 5 * 60 + 1)
    sooner.send("submitCode", ["code": .string(code5)])
    #expect(sooner.session.state == "confirmingNewNumber")
  }

  @Test("3. A code works once; a second use fails")
  func line03() throws {
    var run = try Harness(ProductEditTests.path, actor: "ada", target: "ada")
    run.send("editPhone", ["phone": .string(Self.newNumber)])
    let code = try #require(run.lastCode(to: Self.newNumber))
    run.send("submitCode", ["code": .string(code)])
    #expect(run.session.state == "provingCurrentNumber")
    run.send("submitCode", ["code": .string(code)])
    #expect(run.session.value("verifyCode.ok") == .bool(false), "the same code again fails")
  }

  @Test("4. A code is bound to its user, purpose, session and destination")
  func line04() throws {
    // Purpose: a disable-2FA code does not enable 2FA.
    var run = try Harness(Harness.ownFlowPath, actor: "alan", target: "alan")
    run.services.update { $0.users["alan"]?.twoFactor.enabled = true }
    run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let disable = Self.disableCode(&run)
    run.send("submitCode", ["code": .string(disable)])
    run.send("editPhone", ["phone": .string(Self.current)])  // same number: destination equal
    run.send("save")
    run.send("enable2FA")
    run.send("submitCode", ["code": .string(disable)])
    #expect(run.session.state == "verifyingNewNumber", "a code for another purpose fails")

    // Session: a code sent in one session fails in another.
    var first = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let code = Self.disableCode(&first)
    let other = FlowRunner(flow: first.flow, services: first.services, clock: first.clock)
    var second = try other.start(
      sessionID: "session-2", facts: first.services.facts(actor: "ada", target: "ada").get()
    )
    .session
    first.clock.advance(by: 31)
    second = try other.send(second, "disable2FA").session
    second = try other.send(second, "submitCode", ["code": .string(code)]).session
    #expect(
      second.state == "verifyingCurrentNumber", "the first session's code fails in the second")

    // User and destination: the services refuse a code for another user or number.
    let services = first.services
    let session = first.session
    let wrongDestination = try services.perform(
      ActionRequest(
        action: "verifyCode",
        arguments: [
          "purpose": .string("disable-2fa"), "code": .string(code), "maxAttempts": .int(5),
          "to": .string(Self.newNumber),
        ], session: session, now: first.clock.now()))
    #expect(wrongDestination["ok"] == .bool(false))
    #expect(services.snapshot.codes.allSatisfy { $0.user == "ada" })
  }

  @Test("5. Resend issues a new code and invalidates the previous one")
  func line05() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let first = Self.disableCode(&run)
    run.clock.advance(by: 31)
    run.send("resendCode")
    let second = try #require(run.lastCode(to: Self.current))
    #expect(first != second)
    #expect(run.state.codes.filter { $0.user == "ada" && !$0.used && !$0.invalidated }.count == 1)
    run.send("submitCode", ["code": .string(first)])
    #expect(run.session.state == "verifyingCurrentNumber")
    run.send("submitCode", ["code": .string(second)])
    #expect(run.session.state == "editingPhone")
  }

  @Test("6. Only a hash of the code is stored; it is never logged, traced, snapshotted or echoed")
  func line06() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let code = Self.disableCode(&run)
    let stored = try #require(run.state.codes.last)
    #expect(stored.hash.count == 32, "an HMAC-SHA256 digest")
    let secret = run.services.domain.secret
    #expect(stored.hash == IssuedCode.digest(code, salt: stored.salt, secret: secret))
    #expect(stored.matches(code, secret: secret))
    // Keyed: without the store's secret, the hash cannot be tested against guesses.
    #expect(!stored.matches(code, secret: Array(repeating: 7, count: 32)))
    let dump = "\(run.state.codes)"
    #expect(!dump.contains(code))
    let bad = run.send("submitCode", ["code": .string("12ab")])
    #expect(!"\(bad)".contains("12ab"))
    #expect(!run.session.encodedString.contains(code))
    #expect(run.state.audit.allSatisfy { !"\($0)".contains(code) })
    // The full scan over traces, snapshots, audit, log lines and errors is in SecretTests.
  }

  @Test("7. Comparison takes the same time whether the first digit or the last is wrong")
  func line07() throws {
    // Codes are compared as fixed-length digests, byte by byte with no early exit: where
    // the typed code differs changes neither the length compared nor the work done.
    let salt = SecureCodeGenerator().makeSalt()
    let secret = SecureCodeGenerator().makeSalt()
    let right = IssuedCode.digest("123456", salt: salt, secret: secret)
    let firstWrong = IssuedCode.digest("923456", salt: salt, secret: secret)
    let lastWrong = IssuedCode.digest("123459", salt: salt, secret: secret)
    #expect(firstWrong.count == right.count && lastWrong.count == right.count)
    #expect(!IssuedCode.constantTimeEqual(firstWrong, right))
    #expect(!IssuedCode.constantTimeEqual(lastWrong, right))
    #expect(IssuedCode.constantTimeEqual(right, right))
    // Bytes that differ anywhere (first or last) are found: no prefix short-cut.
    var last = right
    last[31] ^= 1
    var first = right
    first[0] ^= 1
    #expect(!IssuedCode.constantTimeEqual(first, right))
    #expect(!IssuedCode.constantTimeEqual(last, right))
  }

  // MARK: Attempts and lockout

  @Test("8. Failed attempts count per user and authenticator, not per session")
  func line08() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    _ = Self.disableCode(&run)
    for _ in 1...3 { run.send("submitCode", ["code": .string("000000")]) }
    run.send("cancel")
    let runner = FlowRunner(flow: run.flow, services: run.services, clock: run.clock)
    var next = try runner.start(
      sessionID: "session-2", facts: run.services.facts(actor: "ada", target: "ada").get()
    )
    .session
    run.clock.advance(by: 31)
    next = try runner.send(next, "disable2FA").session
    next = try runner.send(next, "submitCode", ["code": .string("000000")]).session
    #expect(next.value("verifyCode.failures") == .int(4), "a new session goes on counting")
    next = try runner.send(next, "submitCode", ["code": .string("000000")]).session
    #expect(next.outcome == "locked")
  }

  @Test(
    "9. After the flow's limit (never more than 100) verification locks and the flow says where it goes"
  )
  func line09() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    _ = Self.disableCode(&run)
    for _ in 1...5 { run.send("submitCode", ["code": .string("000000")]) }
    #expect(run.session.outcome == "locked")
    // A right code after the lockout still fails.
    let runner = FlowRunner(flow: run.flow, services: run.services, clock: run.clock)
    var next = try runner.start(
      sessionID: "s2", facts: run.services.facts(actor: "ada", target: "ada").get()
    ).session
    run.clock.advance(by: 31)
    next = try runner.send(next, "disable2FA").session
    let code = try #require(run.lastCode(to: Self.current))
    next = try runner.send(next, "submitCode", ["code": .string(code)]).session
    #expect(next.outcome == "locked")
    // A flow cannot ask for more than 100 attempts.
    let text = try String(
      contentsOfFile: Harness.packageRoot.appendingPathComponent(Harness.ownFlowPath).path,
      encoding: .utf8)
    let document = FlowDocument.parse(
      text.replacingOccurrences(of: "maxAttempts: 5 ", with: "maxAttempts: 101 "),
      catalog: AccountSecurityCatalog.catalog)
    #expect(
      document.diagnostics.contains {
        $0.code == .actionArgument && $0.message.contains("from 1 to 100")
      })
  }

  @Test(
    "10. Sends are rate-limited per user: a resend inside the cooldown is refused with the time left"
  )
  func line10() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    _ = Self.disableCode(&run)
    run.clock.advance(by: 12)
    let refused = run.send("resendCode")
    #expect(
      refused.rejection
        == .actionFailed(
          action: "sendCode", message: "a code was sent 12s ago; wait 18s before sending another"))
    #expect(run.state.outbox.filter { $0.code != nil }.count == 1)
  }

  // MARK: Changing one's own number

  @Test("11. Disabling 2FA needs a fresh code to the current number; there is no path around it")
  func line11() throws {
    let report = FlowChecker.run(try Harness.flow(Harness.ownFlowPath))
    let check = try #require(
      report.results.first {
        $0.check.name.hasPrefix("2FA is turned off only with a verified code")
      })
    #expect(check.passed)
    #expect(report.complete)
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    _ = Self.disableCode(&run)
    #expect(run.state.codes.last?.destination == Self.current)
  }

  @Test("12. No access to the current number leads to contact support, never to the change")
  func line12() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    _ = Self.disableCode(&run)
    run.send("reportNoAccess")
    #expect(run.session.outcome == "needs-support")
    #expect(run.user("ada").phone.e164 == Self.current)
    #expect(run.user("ada").twoFactor.enabled)
    #expect(
      run.send("editPhone", ["phone": .string(Self.newNumber)]).rejection?.kind == "session-ended")
  }

  @Test("13. The new number counts for 2FA only after a code sent to it is verified")
  func line13() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "alan", target: "alan")
    run.send("editPhone", ["phone": .string(Self.newNumber)])
    run.send("save")
    #expect(run.user("alan").phoneVerified == false)
    run.send("enable2FA")
    #expect(run.user("alan").twoFactor.enabled == false)
    #expect(run.state.codes.last?.destination == Self.newNumber)
    run.send("submitCode", ["code": .string(run.lastCode(to: Self.newNumber)!)])
    #expect(run.user("alan").twoFactor.enabled)
    #expect(run.user("alan").phoneVerified)
  }

  @Test("14. Steps are enforced in order: an event out of order is rejected and recorded")
  func line14() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let before = run.session.encoded()
    let trace = run.send("save")
    #expect(trace.rejection?.kind == "not-accepted")
    #expect(run.session.encoded() == before)
    let entry = try #require(run.state.audit.last)
    #expect(entry.kind == .eventRejected)
    #expect(entry.detail.contains("save rejected in securityCenter"))
  }

  // MARK: Changing a team member's number

  @Test(
    "15. The actor is an admin of the target's account, from server-side facts, never the payload")
  func line15() throws {
    for (actor, target) in [("tess", "mia"), ("gus", "tess")] {
      let run = try Harness(Harness.teamFlowPath, actor: actor, target: target)
      #expect(run.session.outcome == "denied")
    }
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    let trace = run.send("editPhone", ["phone": .string(Self.newNumber), "isAdmin": .bool(true)])
    #expect(trace.rejection?.kind == "invalid-payload")
    let report = FlowChecker.run(try Harness.flow(Harness.teamFlowPath))
    #expect(report.results.allSatisfy { $0.passed })
  }

  @Test("16. The actor cannot use the team-member flow on their own number")
  func line16() throws {
    let run = try Harness(Harness.teamFlowPath, actor: "ada", target: "ada")
    #expect(run.session.outcome == "denied")
  }

  @Test("17. The member is notified on every channel on file, with no code and no full new number")
  func line17() throws {
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    run.send("editPhone", ["phone": .string(Self.newNumber)])
    run.send("save")
    let messages = run.state.inbox(of: "+15550100003") + run.state.inbox(of: "tess@acme.test")
    #expect(Set(messages.map(\.channel)) == [.sms, .email])
    for message in messages {
      #expect(message.code == nil)
      #expect(!message.body.contains(Self.newNumber))
      #expect(message.body.contains("+1******9999"))
    }
  }

  @Test("18. Pending codes for the member are invalidated by the change")
  func line18() throws {
    // Alan starts changing his own number: a code is pending for him.
    let own = try Harness(Harness.ownFlowPath, actor: "alan", target: "alan")
    own.services.update { $0.users["alan"]?.twoFactor.enabled = true }
    let runner = FlowRunner(flow: own.flow, services: own.services, clock: own.clock)
    var alan = try runner.start(
      sessionID: "alan-own", facts: own.services.facts(actor: "alan", target: "alan").get()
    )
    .session
    alan = try runner.send(alan, "disable2FA").session
    let code = try #require(own.lastCode(to: "+15550100002"))
    // Ada changes Alan's number in the team flow, on the same services.
    let team = FlowRunner(
      flow: try Harness.flow(Harness.teamFlowPath), services: own.services, clock: own.clock)
    var change = try team.start(
      sessionID: "ada-team", facts: own.services.facts(actor: "ada", target: "alan").get()
    )
    .session
    change = try team.send(change, "editPhone", ["phone": .string(Self.newNumber)]).session
    change = try team.send(change, "save").session
    #expect(change.outcome == "completed")
    alan = try runner.send(alan, "submitCode", ["code": .string(code)]).session
    #expect(alan.state == "verifyingCurrentNumber", "the pending code died with the change")
  }

  // MARK: Audit and notification

  @Test(
    "19. Every disable, enable, number change, verification success, failure and lockout is audited"
  )
  func line19() throws {
    var run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let code = Self.disableCode(&run)
    run.send("submitCode", ["code": .string("000000")])
    run.send("submitCode", ["code": .string(code)])
    run.send("editPhone", ["phone": .string(Self.newNumber)])
    run.send("save")
    run.send("enable2FA")
    for _ in 1...5 { run.send("submitCode", ["code": .string("000000")]) }
    let kinds = Set(run.state.audit.map(\.kind))
    for kind in [
      AuditEntry.Kind.twoFactorDisabled, .phoneChanged, .verificationSucceeded, .verificationFailed,
      .verificationLocked,
    ] {
      #expect(kinds.contains(kind), "\(kind)")
    }
    var enabling = try Harness(Harness.ownFlowPath, actor: "alan", target: "alan")
    enabling.send("editPhone", ["phone": .string(Self.newNumber)])
    enabling.send("save")
    enabling.send("enable2FA")
    enabling.send("submitCode", ["code": .string(enabling.lastCode(to: Self.newNumber)!)])
    #expect(enabling.state.audit.contains { $0.kind == .twoFactorEnabled })
    let formatter = ISO8601DateFormatter()
    for entry in run.state.audit + enabling.state.audit {
      #expect(formatter.date(from: entry.time) != nil && entry.time.hasSuffix("Z"), "UTC time")
      #expect(!entry.actor.isEmpty && !entry.target.isEmpty && entry.account == "acme")
      #expect(
        entry.flow == "update-own-2fa-phone" && entry.session == "session-1"
          && !entry.outcome.isEmpty)
    }
  }

  @Test("20. Phone numbers are masked in logs, traces and the audit log")
  func line20() throws {
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    let edit = run.send("editPhone", ["phone": .string(Self.newNumber)])
    let save = run.send("save")
    for text in ["\(edit)", "\(save)"] + run.state.audit.map({ "\($0)" }) {
      #expect(!text.contains(Self.newNumber))
      #expect(!text.contains("+15550100003"))
    }
    #expect(PhoneNumber.mask("+15550100001") == "+1******0001")
    // Log lines: see SecretTests, which captures them and finds no code; numbers never
    // reach the logger, which gets event names and states only.
  }

  // MARK: Input

  @Test(
    "21. Phone numbers are parsed and stored as E.164; anything else is an error naming the field",
    arguments: [
      ("+1 (555) 010-9999", "+15550109999"), ("+44 20 7946 0958", "+442079460958"),
      ("+4915112345678", "+4915112345678"),
    ])
  func line21(_ typed: String, _ stored: String) throws {
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    run.send("editPhone", ["phone": .string(typed)])
    run.send("save")
    #expect(run.user("tess").phone.e164 == stored)
    for bad in ["5550109999", "+0 555 010", "+1555", "+1234567890123456", "+1 555 CALL", ""] {
      var other = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
      let before = other.state
      let trace = other.send("editPhone", ["phone": .string(bad)])
      guard case .invalidPayload(_, let field, _) = trace.rejection else {
        Issue.record("'\(bad)' accepted")
        continue
      }
      #expect(field == "phone")
      var after = other.state
      after.audit = before.audit
      #expect(after == before)
    }
  }

  @Test(
    "22. A flow file is untrusted input: every kind of bad file gives a clear error, never a crash")
  func line22() throws {
    let bomb =
      "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
      + "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
      + "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
      + "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
    let inputs: [(String, [UInt8], DiagnosticCode)] = [
      ("malformed YAML", Array("flow: [x\n".utf8), .yamlSyntax),
      ("alias bomb", Array(bomb.utf8), .limitExceeded),
      (
        "deep nesting",
        Array((String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)).utf8),
        .limitExceeded
      ),
      ("huge file", [UInt8](repeating: UInt8(ascii: "#"), count: 17 * 1024 * 1024), .limitExceeded),
      (
        "unknown key",
        Array("flow: x\nversion: 1\ntitle: t\nstart: a\nstates: {}\ncolour: red\n".utf8),
        .unknownKey
      ),
      ("wrong type", Array("flow: x\nversion: [1]\n".utf8), .wrongType),
      ("invalid UTF-8", [0x66, 0x6C, 0x6F, 0x77, 0x3A, 0x20, 0xC3, 0x28], .invalidUTF8),
    ]
    for (name, bytes, code) in inputs {
      let document = FlowDocument.parse(
        bytes: bytes, path: "\(name).yaml", catalog: AccountSecurityCatalog.catalog)
      #expect(document.definition == nil, "\(name)")
      #expect(
        document.diagnostics.contains { $0.code == code },
        "\(name): \(document.diagnostics.map(\.code))")
      #expect(document.diagnostics.allSatisfy { $0.location.line >= 1 && $0.location.column >= 1 })
    }
  }

  @Test("23. Event payloads are validated against the declared fields before any guard runs")
  func line23() throws {
    // The team flow's editPhone declares `phone: phone`: a bad or extra field is refused
    // before the state's transitions (and their guards) are looked at.
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    for payload: [String: Value] in [
      ["phone": .int(5)], ["phone": .string("+15550109999"), "extra": .bool(true)], [:],
    ] {
      let trace = run.send("editPhone", payload)
      #expect(trace.rejection?.kind == "invalid-payload")
      #expect(trace.guards.isEmpty, "no guard ran")
      #expect(trace.transitions.isEmpty)
    }
    var own = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    _ = Self.disableCode(&own)
    let malformed = own.send("submitCode", ["code": .string("12 34")])
    #expect(malformed.rejection?.kind == "invalid-payload")
    #expect(
      own.session.value("verifyCode.failures") == .int(0), "a malformed code is not even an attempt"
    )
  }
}

/// Found in review: a session that started with 2FA off must not save a number after another
/// session turned 2FA on (it would skip the code 2FA now demands).
@Suite("Stale sessions")
struct StaleSessionTests {
  @Test func anOlderSessionCannotSaveAfter2FAWasTurnedOn() throws {
    var first = try Harness(Harness.ownFlowPath, actor: "alan", target: "alan")
    let runner = FlowRunner(flow: first.flow, services: first.services, clock: first.clock)
    var second = try runner.start(
      sessionID: "second", facts: first.services.facts(actor: "alan", target: "alan").get()
    )
    .session
    for (event, payload) in [
      ("editPhone", ["phone": Value.string("+15550109999")]), ("save", [:]), ("enable2FA", [:]),
    ] {
      second = try runner.send(second, event, payload).session
    }
    second =
      try runner.send(second, "submitCode", ["code": .string(first.lastCode(to: "+15550109999")!)])
      .session
    #expect(second.outcome == "completed")
    #expect(first.user("alan").twoFactor.enabled)

    first.send("editPhone", ["phone": .string("+15550107777")])
    let save = first.send("save")
    #expect(save.rejection?.kind == "facts-changed")
    #expect("\(save.rejection!)".contains("profile changed since the last step of this session"))
    #expect(first.user("alan").phone.e164 == "+15550109999")
  }

  @Test func aDemotedAdminCannotFinishChangingAMembersNumber() throws {
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    run.send("editPhone", ["phone": .string("+15550109999")])
    run.services.update { $0.users["ada"]?.role = .manager }
    let save = run.send("save")
    #expect(save.rejection?.kind == "facts-changed")
    #expect(run.user("tess").phone.e164 == "+15550100003")
    #expect(run.send("save").rejection?.kind == "facts-changed", "every later event too")
  }
}
