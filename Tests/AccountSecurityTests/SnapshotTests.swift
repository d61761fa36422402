import AccountSecurity
import FlowEngine
import Testing

/// Sessions are values: encode one in any state, decode it, continue, and the run ends exactly
/// as if it had never stopped.
@Suite("Snapshots")
struct SnapshotTests {
  @Test(
    "a snapshot in any state, encoded, decoded and continued, ends as an uninterrupted run",
    arguments: Script.all)
  func roundTripEverywhere(_ script: Script) throws {
    var whole = try Harness(script.flow, actor: script.actor, target: script.target)
    script.play(&whole)
    let expectedSession = whole.session.encoded()
    let expectedWorld = whole.state

    for cut in 0...script.steps.count {
      var run = try Harness(script.flow, actor: script.actor, target: script.target)
      script.play(&run, to: cut)
      let bytes = run.session.encoded()
      let restored = try Session.decode(bytes, for: run.flow)
      #expect(restored == run.session, "decode(encode(s)) == s at step \(cut)")
      #expect(restored.encoded() == bytes)
      run.session = restored
      script.play(&run, from: cut)
      #expect(run.session.encoded() == expectedSession, "\(script.name): cut after step \(cut)")
      #expect(run.state == expectedWorld, "\(script.name): cut after step \(cut)")
    }
  }

  @Test("the scripts rest in every state that can hold a session")
  func everyRestingStateIsCovered() throws {
    var visited: [String: Set<String>] = [:]
    for script in Script.all {
      var run = try Harness(script.flow, actor: script.actor, target: script.target)
      visited[script.flow, default: []].insert(run.session.state)
      for index in script.steps.indices {
        script.play(&run, from: index, to: index + 1)
        visited[script.flow, default: []].insert(run.session.state)
      }
    }
    for path in [Harness.ownFlowPath, Harness.teamFlowPath] {
      let flow = try Harness.flow(path)
      // States with only `always` transitions are passed through within a step, never rested in.
      let resting = flow.states.filter { $0.always.isEmpty }.map(\.name)
      #expect(
        Set(resting).subtracting(visited[path] ?? []).isEmpty,
        "\(path) unvisited: \(Set(resting).subtracting(visited[path] ?? []))")
    }
  }

  @Test("a snapshot from another flow, another text, or another format is refused")
  func refusesForeignSnapshots() throws {
    let own = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let team = try Harness(Harness.teamFlowPath, actor: "ada", target: "tess")
    #expect(throws: Session.DecodingError.self) {
      try Session.decode(own.session.encoded(), for: team.flow)
    }
    let text = own.session.encodedString
    // Each change is signed again with the right key, so what refuses it is the check behind
    // the tag, not the tag.
    let otherText = resigned(
      text.replacingOccurrences(of: own.flow.contentHash, with: String(repeating: "0", count: 64)))
    #expect(throws: Session.DecodingError.self) {
      try Session.decode(Array(otherText.utf8), for: own.flow)
    }
    let otherFormat = resigned(
      text.replacingOccurrences(
        of: "\"format\":\(Session.formatVersion)", with: "\"format\":99"))
    #expect(otherFormat != resigned(text))
    #expect(throws: Session.DecodingError.self) {
      try Session.decode(Array(otherFormat.utf8), for: own.flow)
    }
    let badState = resigned(
      text.replacingOccurrences(
        of: "\"state\":\"securityCenter\"", with: "\"state\":\"completed\""))
    #expect(throws: Session.DecodingError.self) {
      try Session.decode(Array(badState.utf8), for: own.flow)
    }
    #expect(try Session.decode(Array(resigned(text).utf8), for: own.flow) == own.session)
    #expect(throws: Session.DecodingError.self) {
      try Session.decode(Array("not json".utf8), for: own.flow)
    }
  }

  @Test("the encoding is stable and versioned")
  func encodingShape() throws {
    let run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let text = run.session.encodedString
    // Pinned by a golden file: everything but the tag, with the flow's hash written as
    // CONTENT-HASH (the tag and the hash change with every edit of the flow).
    let golden = try String(
      contentsOf: Harness.packageRoot.appendingPathComponent(
        "Tests/Fixtures/sessions/own-number-start.v3.json"),
      encoding: .utf8)
    let body = String(text[..<text.range(of: ",\"tag\":\"", options: .backwards)!.lowerBound])
    #expect(
      body.replacingOccurrences(of: run.flow.contentHash, with: "CONTENT-HASH") + "}\n" == golden)
    // No fact is ever written: no phone number, email, role or 2FA setting of the directory.
    for fact in ["\"actor.", "\"target.", "+1555", "@example"] {
      #expect(!text.contains(fact), "the session holds \(fact)")
    }
  }

  @Test("a session written in format 2, before timers, still reads: no timer is due")
  func formatTwoStillReads() throws {
    let run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let golden = try String(
      contentsOf: Harness.packageRoot.appendingPathComponent(
        "Tests/Fixtures/sessions/own-number-start.v2.json"),
      encoding: .utf8)
    let body = String(
      golden.trimmingCharacters(in: .whitespacesAndNewlines)
        .replacingOccurrences(of: "CONTENT-HASH", with: run.flow.contentHash).dropLast())
    let text = body + ",\"tag\":\"" + testSessionKey.tag(Array(body.utf8)) + "\"}"
    let session = try Session.decode(Array(text.utf8), for: run.flow)
    #expect(session.state == "securityCenter")
    #expect(session.dueAt == nil)
    #expect(session.enteredAt == session.updatedAt)
    #expect(session.timersDone == 0)
  }

  /// The text with its tag made again (as an attacker with the store's key could).
  func resigned(_ text: String) -> String {
    let marker = ",\"tag\":\""
    let range = text.range(of: marker, options: .backwards)!
    let body = String(text[..<range.lowerBound])
    return body + marker + testSessionKey.tag(Array(body.utf8)) + "\"}"
  }
}
