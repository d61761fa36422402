import AccountSecurity
import FlowEngine
import Testing

/// "Updating another team member's 2FA number", run by the engine.
@Suite("Team member flow")
struct TeamMemberFlowTests {
  static let newNumber = "+15550109999"

  @Test("an admin changes a member's number with no code; the member is notified; codes die")
  func happyPath() throws {
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    #expect(run.session.state == "editingPhone")
    // Tess has a code pending from a sign-in of her own.
    run.services.update { state in
      let salt: [UInt8] = [1, 2, 3]
      state.codes.append(
        IssuedCode(
          id: 99, user: "tess", purpose: .disable2FA, session: "tess-own",
          destination: "+15550100003", salt: salt,
          hash: [], issuedAt: 0, expiresAt: .max))
    }
    let routes = run.state.routes
    #expect(run.send("editPhone", ["phone": .string("+1 (555) 010-9999")]).accepted)
    let saved = run.send("save")
    #expect(saved.accepted)
    #expect(run.session.outcome == "completed")
    #expect(run.user("tess").phone.e164 == Self.newNumber, "stored as E.164")
    #expect(run.issuedCodes.isEmpty, "no code is needed or sent")
    #expect(
      run.state.codes.allSatisfy { !$0.isPending }, "the member's pending codes are invalidated")
    #expect(run.state.routes == routes)
    #expect(run.state.route(for: "ext-12") == "tess", "calls still go to Tess")

    let toOldPhone = run.state.inbox(of: "+15550100003")
    let toEmail = run.state.inbox(of: "tess@acme.test")
    #expect(toOldPhone.count == 1)
    #expect(toEmail.count == 1)
    for message in toOldPhone + toEmail {
      #expect(message.body.contains("+1******9999"), "the new number, masked")
      #expect(!message.body.contains(Self.newNumber), "never the full new number")
      #expect(message.code == nil)
    }
    #expect(
      run.state.audit.contains { $0.kind == .phoneChanged && $0.detail.contains("+1******9999") })
  }

  @Test("it works the same whether or not the member still has the old phone")
  func memberWithoutOldPhone() throws {
    // Nothing in the flow asks the member for anything: the admin alone completes it.
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "mia")
    run.send("editPhone", ["phone": .string(Self.newNumber)])
    run.send("save")
    #expect(run.session.outcome == "completed")
    #expect(run.traces.allSatisfy { $0.accepted })
  }

  @Test(
    "a non-admin, a target in another account, and the actor as target are denied",
    arguments: [("tess", "mia"), ("mia", "tess"), ("ada", "gina"), ("gus", "tess"), ("ada", "ada")])
  func denied(_ actor: String, _ target: String) throws {
    var run = try Harness(Harness.teamFlowPath, actor: actor, target: target)
    #expect(run.session.outcome == "denied")
    #expect(run.state.audit.contains { $0.kind == .accessDenied })
    let phone = run.user(target).phone
    let trace = run.send("editPhone", ["phone": .string(Self.newNumber)])
    #expect(trace.rejection?.kind == "session-ended")
    #expect(run.user(target).phone == phone)
  }

  @Test("facts come from the directory, not from the payload")
  func payloadCannotClaimAdmin() throws {
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    let trace = run.send("editPhone", ["phone": .string(Self.newNumber), "role": .string("admin")])
    #expect(trace.rejection?.kind == "invalid-payload")
    guard case .invalidPayload(_, let field, _) = trace.rejection else { return }
    #expect(field == "role")
  }

  @Test("an invalid phone is rejected naming the field, and nothing changes")
  func invalidPhone() throws {
    var run = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    let before = run.state
    let bytes = run.session.encoded()
    for bad in ["0044 20 7946 0958", "+1555", "+1-555-abc-0000", "", "+123456789012345678"] {
      let trace = run.send("editPhone", ["phone": .string(bad)])
      guard case .invalidPayload(let event, let field, let problem) = trace.rejection else {
        Issue.record("'\(bad)' accepted")
        continue
      }
      #expect(event == "editPhone")
      #expect(field == "phone")
      #expect(!problem.isEmpty)
      #expect(run.session.encoded() == bytes)
    }
    var after = run.state
    after.audit = before.audit
    #expect(after == before)
  }
}

extension IssuedCode {
  var isPending: Bool { !used && !invalidated }
}
