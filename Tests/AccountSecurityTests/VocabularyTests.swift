import AccountSecurity
import FlowEngine
import Foundation
import Testing

/// The vocabulary product teams asked for: codes by email, a step-up code that is the actor's,
/// and messages worded in YAML.
@Suite("Destinations, step-up and messages")
struct VocabularyTests {
  static let stepUpFlowPath = "flows/update-team-member-2fa-phone-step-up.yaml"
  static let emailFlowPath = "flows/update-own-2fa-phone-email-codes.yaml"
  static let wrongCode: [String: Value] = ["code": .string("000000")]

  /// Failure counts by user, summed over their destinations (keys are `user|digest`).
  static func failures(_ state: AccountSecurityState) -> [String: Int] {
    var byUser: [String: Int] = [:]
    for (key, count) in state.failures {
      byUser[String(key.prefix { $0 != "|" }), default: 0] += count
    }
    return byUser
  }

  @Test("a wrong step-up code counts against the admin and their destination, not the member")
  func stepUpFailureCountsAgainstTheActor() throws {
    var run = try Harness(Self.stepUpFlowPath, actor: "ada", target: "tess")
    #expect(run.session.state == "confirmingIdentity")
    #expect(run.state.inbox(of: "+15550100001").count == 1, "the code goes to Ada's own phone")
    #expect(run.state.inbox(of: "+15550100003").isEmpty, "nothing goes to Tess")
    #expect(run.send("submitCode", Self.wrongCode).accepted)
    #expect(run.send("submitCode", Self.wrongCode).accepted)
    #expect(Self.failures(run.state) == ["ada": 2])
    let failed = run.state.audit.filter { $0.kind == .verificationFailed }
    #expect(failed.count == 2)
    #expect(failed.allSatisfy { $0.detail.contains("+1******0001") }, "Ada's number, masked")
    let issued = run.state.codes.filter { $0.purpose == .stepUp }
    #expect(issued.count == 1 && issued.allSatisfy { $0.user == "ada" }, "the code is Ada's")
  }

  @Test("a locked step-up locks the admin everywhere, and the member not at all")
  func stepUpLockoutLeavesTheMemberAlone() throws {
    // Alan, an admin, changes Ada's number; Ada is an admin with 2FA on, who can later run
    // the own-number flow herself.
    var run = try Harness(Self.stepUpFlowPath, actor: "alan", target: "ada")
    for _ in 0..<5 { run.send("submitCode", Self.wrongCode) }
    #expect(run.session.outcome == "locked")
    #expect(Self.failures(run.state) == ["alan": 5])

    // Ada, the member, turns her own 2FA off with her own code: nothing of Alan's lock is hers.
    let own = FlowRunner(
      flow: try Harness.flow(Harness.ownFlowPath), services: run.services, clock: run.clock)
    var ada = try own.start(
      sessionID: "ada-own", facts: try run.services.facts(actor: "ada", target: "ada").get()
    ).session
    ada = try own.send(ada, "disable2FA", [:]).session
    let code = try #require(run.lastCode(to: "+15550100001"))
    ada = try own.send(ada, "submitCode", ["code": .string(code)]).session
    #expect(ada.state == "editingPhone", "Ada's code works")

    // A new step-up session of Alan's is locked at once, even with the right code (SECURITY.md 8).
    let stepUp = FlowRunner(flow: run.flow, services: run.services, clock: run.clock)
    run.clock.advance(by: 60)
    var again = try stepUp.start(
      sessionID: "alan-again", facts: try run.services.facts(actor: "alan", target: "tess").get()
    ).session
    let alanCode = try #require(run.lastCode(to: "+15550100002"))
    again = try stepUp.send(again, "submitCode", ["code": .string(alanCode)]).session
    #expect(again.outcome == "locked")
  }

  @Test("for an admin whose 2FA channel is email, the codes go by email, with a subject")
  func codesByEmail() throws {
    var run = try Harness(Self.emailFlowPath, actor: "ada", target: "ada", emailChannel: ["ada"])
    run.send("disable2FA")
    let mail = run.state.inbox(of: "ada@acme.test")
    #expect(mail.count == 1)
    #expect(mail.first?.channel == .email)
    #expect(mail.first?.subject?.contains("turn off two-factor sign-in") == true)
    #expect(run.state.inbox(of: "+15550100001").isEmpty, "no SMS")
    let code = try #require(mail.first?.code)
    run.send("submitCode", ["code": .string(code)])
    #expect(run.session.state == "editingPhone")
    run.send("editPhone", ["phone": .string("+15550109999")])
    run.send("save")
    run.send("enable2FA")
    let second = try #require(run.lastCode(to: "ada@acme.test"))
    #expect(second != code)
    run.send("submitCode", ["code": .string(second)])
    #expect(run.session.outcome == "completed")
    #expect(run.user("ada").twoFactor.enabled)
    #expect(run.state.outbox.allSatisfy { $0.channel == .email })
  }

  /// A flow that sends a confirm-phone code to what the person types.
  static let typedDestinationFlow = """
    flow: confirm-destination
    version: 1
    title: Confirm a destination
    context: { actor: user, target: user }
    events:
      sendTo: { address: destination }
    start: waiting
    states:
      waiting:
        on:
          sendTo:
            to: sent
            do: [sendCode: { purpose: confirm-phone, to: event.address }]
      sent:
        final: true
        outcome: completed
    """

  @Test("a typed email not on file is refused; a typed new phone may get a confirm-phone code")
  func typedDestinations() throws {
    let path = try Self.write(Self.typedDestinationFlow)
    var run = try Harness(path, actor: "ada", target: "ada")
    let refused = run.send("sendTo", ["address": .string("someone@else.test")])
    #expect(!refused.accepted)
    #expect(refused.rejection?.description.contains("not an email on file") == true)
    #expect(run.state.outbox.isEmpty, "nothing was sent")
    #expect(!run.state.outbox.contains { $0.destination == "someone@else.test" })
    let sent = run.send("sendTo", ["address": .string("+1 555 010 7777")])
    #expect(sent.accepted)
    #expect(run.state.inbox(of: "+15550107777").first?.channel == .sms)
  }

  @Test("a notice's wording is the flow's, filled in, and changes with the YAML alone")
  func messagesAreData() throws {
    let original = try String(
      contentsOf: Harness.packageRoot.appendingPathComponent(Harness.teamFlowPath), encoding: .utf8)
    let edited = original.replacingOccurrences(
      of: "    sms: \"The phone number used for two-factor sign-in",
      with:
        "    sms: \"Heads up {userName}: {actorName} set your sign-in number to {maskedPhone}. Old text:"
    )
    #expect(edited != original)
    var run = try Harness(try Self.write(edited), actor: "ada", target: "tess")
    run.send("editPhone", ["phone": .string("+15550109999")])
    run.send("save")
    let sms = try #require(run.state.inbox(of: "+15550100003").first)
    #expect(
      sms.body.hasPrefix("Heads up Tess Tech: Ada Admin set your sign-in number to +1******9999."))
    let email = try #require(run.state.inbox(of: "tess@acme.test").first)
    #expect(email.subject == "Your two-factor sign-in number at Acme Plumbing was changed")
    #expect(!email.body.contains("{"), "every placeholder filled")
  }

  @Test("twoFactor.destination is the phone or the email, by the user's 2FA channel")
  func destinationFact() {
    var user = Harness.team().users["mia"]!
    user.twoFactor.channel = .sms
    #expect(user.facts(as: "target")["target.twoFactor.destination"] == .string("+15550100004"))
    user.twoFactor.channel = .email
    #expect(user.facts(as: "target")["target.twoFactor.destination"] == .string("mia@acme.test"))
  }

  /// Writes a flow to a fresh temporary file; returns its path (absolute).
  static func write(_ text: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "vocabulary-\(UUID().uuidString).yaml")
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
  }
}
