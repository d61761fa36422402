public import FlowEngine

/// The 2FA domain as a store plugs it in: the catalog's actions over the store's tables, the
/// facts of the directory, and the audit entry of every step. The in-memory services and every
/// durable store call these, so the actions behave the same on each.
public struct AccountSecurityDomain: Sendable {
  public let codes: any CodeGenerator
  public let policy: CodePolicy
  /// The store's secret for code hashes and failure-counter keys (HMAC-SHA256): a copy of the
  /// tables without it cannot test guesses against a code hash, nor read a number in a key.
  public let secret: [UInt8]

  public init(
    codes: any CodeGenerator = SecureCodeGenerator(), policy: CodePolicy = CodePolicy(),
    secret: [UInt8]
  ) {
    self.codes = codes
    self.policy = policy
    self.secret = secret
  }

  /// Performs one action of the catalog on `tables`. Throws `ActionFailure` when the action
  /// refuses, and passes on the tables' own (infrastructure) errors.
  public func perform(_ request: ActionRequest, on tables: some AccountSecurityTables) throws
    -> [String: Value]
  {
    try Actions(
      tables: tables, request: request, context: SessionContext(request.session), codes: codes,
      policy: policy, secret: secret
    ).perform()
  }

  /// The facts of every subject (`actor` → a user id) by slot name, or nil when one is gone.
  public func facts(of subjects: [String: String], in tables: some AccountSecurityTables) throws
    -> [String: Value]?
  {
    try tables.facts(of: subjects)
  }

  /// The subjects' version in the directory (see `FlowServices.factsVersion`).
  public func factsVersion(of subjects: [String: String], in tables: some AccountSecurityTables)
    throws -> [Int]?
  {
    try tables.factsVersion(of: subjects)
  }

  /// The audit entry of a step, accepted or rejected (SECURITY.md 19, 33).
  public func auditEntry(for trace: StepTrace, of session: Session, at time: Int) -> AuditEntry {
    SessionContext(session).stepEntry(trace, of: session, at: time)
  }
}
