internal import FlowEngine

/// The domain's tables in memory, over one `AccountSecurityState`, changed in place. A step's
/// changes are journaled (each with what it replaced), so a rollback undoes exactly them: the
/// cost of a step, committed or not, does not grow with the history the state holds. Indexes
/// (active codes by user, used codes and the newest code by session, the newest code message by
/// destination) keep every read of a step independent of history too.
final class InMemoryTables: AccountSecurityTables, @unchecked Sendable {
  private(set) var state: AccountSecurityState
  private var journal: [Undo] = []
  private var survivors: [Survivor] = []
  private var activeByUser: [String: [Int]] = [:]
  private var usedBySession: [String: [Int]] = [:]
  private var newestCodeBySession: [String: Int] = [:]
  private var newestCodeMessage: [String: Int] = [:]
  private var codeIndex: [Int: Int] = [:]
  private var deliveriesInStep = 0
  /// The facts last read, with the subjects and versions they were read at: a session's next
  /// step reads the same subjects, and their facts change only with their versions.
  private var lastFacts: (subjects: [String: String], versions: [Int], facts: [String: Value])?

  private enum Undo {
    case user(String, User?, version: Int?)
    case codeAppended(previousNewest: Int?)
    case codeChanged(Int, IssuedCode)
    case failures(String, Int?)
    case lastSend(String, Int?)
    case outboxAppended(previousNewest: Int?)
    case auditAppended
    case phoneChangeAppended
  }

  init(_ state: AccountSecurityState) {
    self.state = state
    rebuildIndexes()
  }

  /// Replaces the whole state (test set-up, the explorer's restore): indexes are rebuilt.
  func replace(_ change: (inout AccountSecurityState) -> Void) {
    // A replaced state may bring back older versions with other contents (the explorer).
    lastFacts = nil
    let before = state.users
    let versionsBefore = state.userVersions
    change(&state)
    // A change that does not set versions itself (test set-up) counts as a change by someone
    // else; one that puts a saved state back (the explorer) brings its versions along.
    if state.userVersions == versionsBefore {
      for (id, user) in state.users where before[id] != user {
        state.userVersions[id, default: 0] += 1
      }
    }
    rebuildIndexes()
  }

  private func rebuildIndexes() {
    activeByUser = [:]
    usedBySession = [:]
    newestCodeBySession = [:]
    newestCodeMessage = [:]
    codeIndex = [:]
    for (index, code) in state.codes.enumerated() {
      codeIndex[code.id] = index
      if code.isActive { activeByUser[code.user, default: []].append(index) }
      if code.used { usedBySession[code.session, default: []].append(index) }
      newestCodeBySession[code.session] = index
    }
    for (index, message) in state.outbox.enumerated() where message.code != nil {
      newestCodeMessage[message.destination] = index
    }
  }

  // MARK: - Steps

  /// Runs `body`; if it throws, every change it made is undone and then the survivors it
  /// marked are applied again. They stay marked, so an enclosing attempt that fails too undoes
  /// them with the rest and applies them once more: in the end, once.
  func attempt<T>(_ body: () throws -> T) throws -> T {
    let mark = journal.count
    let survivorMark = survivors.count
    do {
      return try body()
    } catch {
      let kept = Array(survivors[survivorMark...])
      while journal.count > mark { undo(journal.removeLast()) }
      try reapply(kept)
      throw error
    }
  }

  /// Ends a transaction: its changes are kept for good.
  func commit() {
    deliveriesInStep = 0
    journal.removeAll(keepingCapacity: true)
    survivors.removeAll(keepingCapacity: true)
  }

  private func undo(_ entry: Undo) {
    switch entry {
    case .user(let id, let previous, let version):
      state.users[id] = previous
      state.userVersions[id] = version
    case .codeAppended(let previousNewest):
      let index = state.codes.count - 1
      let code = state.codes.removeLast()
      codeIndex[code.id] = nil
      activeByUser[code.user]?.removeAll { $0 == index }
      usedBySession[code.session]?.removeAll { $0 == index }
      newestCodeBySession[code.session] = previousNewest
      state.nextCodeID = code.id
    case .codeChanged(let index, let previous):
      setCode(previous, at: index)
    case .failures(let key, let previous):
      state.failures[key] = previous
    case .lastSend(let key, let previous):
      state.lastSend[key] = previous
    case .outboxAppended(let previousNewest):
      let message = state.outbox.removeLast()
      if message.code != nil { newestCodeMessage[message.destination] = previousNewest }
    case .auditAppended:
      state.audit.removeLast()
    case .phoneChangeAppended:
      state.phoneChanges.removeLast()
    }
  }

  private func setCode(_ code: IssuedCode, at index: Int) {
    let old = state.codes[index]
    state.codes[index] = code
    if old.isActive != code.isActive {
      if code.isActive {
        insertSorted(index, into: &activeByUser[code.user, default: []])
      } else {
        activeByUser[code.user]?.removeAll { $0 == index }
      }
    }
    if old.used != code.used {
      if code.used {
        insertSorted(index, into: &usedBySession[code.session, default: []])
      } else {
        usedBySession[code.session]?.removeAll { $0 == index }
      }
    }
  }

  private func insertSorted(_ value: Int, into list: inout [Int]) {
    let position = list.firstIndex { $0 > value } ?? list.count
    list.insert(value, at: position)
  }

  /// `facts(of:)`, from the last read when the subjects' versions have not moved since.
  func currentFacts(of subjects: [String: String]) throws -> [String: Value]? {
    guard let versions = try factsVersion(of: subjects) else { return nil }
    if let last = lastFacts, last.versions == versions, last.subjects == subjects {
      return last.facts
    }
    let facts = try facts(of: subjects)
    if let facts { lastFacts = (subjects, versions, facts) }
    return facts
  }

  // MARK: - Reads for tools

  /// The code a person would read off the phone now: the last one delivered to the
  /// destination of the session's newest code.
  func receivedCode(forSession session: String) -> String? {
    guard let newest = newestCodeBySession[session],
      let message = newestCodeMessage[state.codes[newest].destination]
    else { return nil }
    return state.outbox[message].code
  }

  // MARK: - AccountSecurityTables

  func user(_ id: String) -> User? { state.users[id] }

  func accountName(_ id: String) -> String? { state.accounts[id]?.name }

  func saveUser(_ user: User) {
    let previous = state.users[user.id]
    guard previous != user else { return }
    journal.append(.user(user.id, previous, version: state.userVersions[user.id]))
    state.users[user.id] = user
    state.userVersions[user.id, default: 0] += 1
  }

  func version(of user: String) -> Int? {
    state.users[user] == nil ? nil : state.userVersions[user, default: 0]
  }

  func activeCodes(of user: String) -> [IssuedCode] {
    (activeByUser[user] ?? []).map { state.codes[$0] }
  }

  func insertCode(_ code: IssuedCode) -> Int {
    var code = code
    while codeIndex[state.nextCodeID] != nil { state.nextCodeID += 1 }
    code.id = state.nextCodeID
    state.nextCodeID += 1
    let index = state.codes.count
    journal.append(.codeAppended(previousNewest: newestCodeBySession[code.session]))
    state.codes.append(code)
    codeIndex[code.id] = index
    if code.isActive { activeByUser[code.user, default: []].append(index) }
    if code.used { usedBySession[code.session, default: []].append(index) }
    newestCodeBySession[code.session] = index
    return code.id
  }

  func updateCode(_ code: IssuedCode) {
    guard let index = codeIndex[code.id] else { return }
    journal.append(.codeChanged(index, state.codes[index]))
    setCode(code, at: index)
  }

  func hasUsedCode(user: String, destination: String, session: String) -> Bool {
    (usedBySession[session] ?? []).contains {
      state.codes[$0].user == user && state.codes[$0].destination == destination
    }
  }

  func failures(_ key: String) -> Int { state.failures[key, default: 0] }

  func setFailures(_ key: String, _ count: Int) {
    journal.append(.failures(key, state.failures[key]))
    state.failures[key] = count
  }

  func lastSend(_ key: String) -> Int? { state.lastSend[key] }

  func setLastSend(_ key: String, _ time: Int) {
    journal.append(.lastSend(key, state.lastSend[key]))
    state.lastSend[key] = time
  }

  func deliver(_ message: OutboundMessage) {
    var message = message
    deliveriesInStep += 1
    message.key += ":\(deliveriesInStep - 1)"
    journal.append(.outboxAppended(previousNewest: newestCodeMessage[message.destination]))
    if message.code != nil { newestCodeMessage[message.destination] = state.outbox.count }
    state.outbox.append(message)
  }

  func audit(_ entry: AuditEntry) {
    journal.append(.auditAppended)
    state.audit.append(entry)
  }

  func lastPhoneChange(user: String, session: String) -> PhoneChange? {
    state.phoneChanges.last { $0.user == user && $0.session == session }
  }

  func recordPhoneChange(_ change: PhoneChange) {
    journal.append(.phoneChangeAppended)
    state.phoneChanges.append(change)
  }

  func survive(_ survivor: Survivor) {
    survivors.append(survivor)
  }
}
