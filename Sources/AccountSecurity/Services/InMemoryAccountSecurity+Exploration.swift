public import FlowEngine

extension InMemoryAccountSecurity: ExplorableServices {
  /// The state without history the flow cannot read (the audit log, all but the last message
  /// to each destination), so that exploring long paths does not copy ever-longer logs.
  public func save() -> AccountSecurityState {
    var state = snapshot
    state.audit = []
    var lastIndex: [String: Int] = [:]
    for (index, message) in state.outbox.enumerated() where message.code != nil {
      lastIndex[message.destination] = index
    }
    state.outbox = lastIndex.values.sorted().map { state.outbox[$0] }
    return state
  }

  public func restore(_ saved: AccountSecurityState) {
    update { $0 = saved }
  }

  /// The actor's and target's profiles and 2FA, failure counts, the session's live codes (purpose,
  /// destination, expired or not) and the resend cooldowns: what can change what happens next.
  public func fingerprint(for session: Session, now: Int) -> String {
    let state = snapshot
    let context = SessionContext(session)
    var parts: [String] = []
    for id in [context.actor, context.target] {
      if let user = state.users[id] {
        parts.append("\(id):\(user.phone.e164):\(user.twoFactor.enabled):\(user.phoneVerified)")
      }
    }
    // Codes, failures and cooldowns of both: a code `for: actor` counts against the actor.
    let subjects = Set([context.actor, context.target])
    let owner = { (key: String) in subjects.contains(String(key.prefix { $0 != "|" })) }
    parts.append(
      state.failures.filter { owner($0.key) }.sorted { $0.key < $1.key }
        .map { "\($0.key)=\($0.value)" }.joined(separator: ","))
    parts.append(
      state.codes.filter { subjects.contains($0.user) && $0.isActive }
        .map {
          "\($0.user)>\($0.purpose.rawValue)>\($0.destination):\($0.session == session.id):\(now >= $0.expiresAt)"
        }
        .sorted().joined(separator: ","))
    parts.append(
      state.lastSend.filter { owner($0.key) && now - $0.value < policy.resendCooldown }
        .keys.sorted().joined(separator: ","))
    parts.append("changes:\(state.phoneChanges.filter { $0.session == session.id }.count)")
    return parts.joined(separator: "|")
  }

  /// Codes: the one just received and a wrong one; phones: a new valid number; emails: a new
  /// address. The engine adds the values the flow compares a field with.
  public func candidates(for type: ValueType, field: String, session: Session, now: Int)
    -> [ExplorationInput]
  {
    switch type {
    case .scalar("code"):
      var inputs = [
        ExplorationInput(value: .string(Self.neverValidCode), spelled: "\"\(Self.neverValidCode)\"")
      ]
      if let code = receivedCode(for: session) {
        inputs.insert(
          ExplorationInput(value: .string(code), spelled: EventScript.receivedCode), at: 0)
      }
      return inputs
    case .scalar("phone"):
      return [ExplorationInput(value: .string(Self.newNumber), spelled: "\"\(Self.newNumber)\"")]
    case .scalar("email"):
      return [
        ExplorationInput(value: .string("new@example.test"), spelled: "\"new@example.test\"")
      ]
    case .scalar("destination"):
      return [
        ExplorationInput(value: .string(Self.newNumber), spelled: "\"\(Self.newNumber)\""),
        ExplorationInput(value: .string("new@example.test"), spelled: "\"new@example.test\""),
      ]
    default:
      // Other types are the engine's (`InputDomains`): samples and the flow's own values.
      return []
    }
  }

  /// A code the seeded generator never issues, used as "a wrong code".
  public static let neverValidCode = "000000"
  /// A valid number no user has, used as "a new number".
  public static let newNumber = "+15550123456"
}
