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
    let otherText = text.replacingOccurrences(
      of: own.flow.contentHash, with: String(repeating: "0", count: 64))
    #expect(throws: Session.DecodingError.self) {
      try Session.decode(Array(otherText.utf8), for: own.flow)
    }
    let otherFormat = text.replacingOccurrences(of: "\"format\":1", with: "\"format\":99")
    #expect(throws: Session.DecodingError.self) {
      try Session.decode(Array(otherFormat.utf8), for: own.flow)
    }
    let badState = text.replacingOccurrences(
      of: "\"state\":\"securityCenter\"", with: "\"state\":\"completed\"")
    #expect(throws: Session.DecodingError.self) {
      try Session.decode(Array(badState.utf8), for: own.flow)
    }
    #expect(throws: Session.DecodingError.self) {
      try Session.decode(Array("not json".utf8), for: own.flow)
    }
  }

  @Test("the encoding is stable and versioned")
  func encodingShape() throws {
    let run = try Harness(Harness.ownFlowPath, actor: "ada", target: "ada")
    let text = run.session.encodedString
    #expect(
      text.hasPrefix(
        "{\"flow\":{\"contentHash\":\"\(run.flow.contentHash)\",\"id\":\"update-own-2fa-phone\",\"version\":1},\"format\":1,"
      ))
    #expect(text.contains("\"state\":\"securityCenter\""))
    #expect(text.contains("\"verifyCode.failures\":0"))
    #expect(text.contains("\"actor.twoFactor.enabled\":true"))
    #expect(text.contains("\"startedAt\":1767258000"))
  }
}
