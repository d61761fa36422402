public import FlowEngine
internal import Foundation

/// A world file: the accounts, users and call routes a dry run starts from.
///
/// ```yaml
/// accounts:
///   - { id: acme, name: Acme Plumbing }
/// users:
///   - id: ada
///     name: Ada Admin
///     role: admin
///     account: acme
///     phone: "+15550100001"
///     email: ada@acme.test
///     twoFactor: { enabled: true, channel: sms }
/// routes:
///   - { line: "+15550199000", user: ada }
/// ```
public enum WorldFile {
  public struct Loaded: Sendable {
    public var state: AccountSecurityState?
    public var diagnostics: [Diagnostic]
    public var source: SourceText
  }

  /// The world as a world file (only `users` and their accounts when given).
  public static func render(_ state: AccountSecurityState, users: Set<String>? = nil) -> String {
    let chosen = state.users.values.filter { users?.contains($0.id) ?? true }.sorted {
      $0.id < $1.id
    }
    let accounts = state.accounts.values.filter { account in
      chosen.contains { $0.account == account.id }
    }
    .sorted { $0.id < $1.id }
    var text =
      "# yaml-language-server: $schema=https://flowengine.example/schemas/world.schema.json\n"
    text += "accounts:\n"
    for account in accounts { text += "  - { id: \(account.id), name: \(quoted(account.name)) }\n" }
    text += "users:\n"
    for user in chosen {
      text += """
          - id: \(user.id)
            name: \(quoted(user.name))
            role: \(user.role.rawValue)
            account: \(user.account)
            phone: "\(user.phone.e164)"
            email: \(user.email)
            twoFactor: { enabled: \(user.twoFactor.enabled), channel: \(user.twoFactor.channel.rawValue) }

        """
    }
    let routes = state.routes.filter { users?.contains($0.userID) ?? true }
    if !routes.isEmpty {
      text += "routes:\n"
      for route in routes { text += "  - { line: \(quoted(route.line)), user: \(route.userID) }\n" }
    }
    return text
  }

  private static func quoted(_ text: String) -> String {
    "\""
      + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(
        of: "\"", with: "\\\"") + "\""
  }

  static let userKeys = ["id", "name", "role", "account", "phone", "email", "twoFactor"]

  public static func load(path: String, limits: LoadLimits = .standard) -> Loaded {
    let read = SourceReader.read(path: path, limits: limits)
    if read.diagnostics.hasErrors {
      return Loaded(state: nil, diagnostics: read.diagnostics, source: read.source)
    }
    guard let root = read.root else {
      return Loaded(
        state: nil,
        diagnostics: [
          Diagnostic(
            .wrongType, "the world file is empty; give it accounts and users",
            at: .init(line: 1, column: 1))
        ],
        source: read.source)
    }
    var reader = YAMLReader()
    var state = AccountSecurityState()
    if let top = reader.mapping(
      root, what: "a world file", keys: ["accounts", "users", "routes"],
      required: ["accounts", "users"])
    {
      for node in top["accounts"].map({ reader.list($0, what: "accounts") }) ?? [] {
        guard
          let fields = reader.mapping(
            node, what: "an account", keys: ["id", "name"], required: ["id", "name"]),
          let id = fields["id"].flatMap({ reader.string($0, what: "id") }),
          let name = fields["name"].flatMap({ reader.string($0, what: "name") })
        else { continue }
        if state.accounts[id] != nil {
          reader.report(.nameConflict, "account '\(id)' is defined twice", at: fields["id"]!)
          continue
        }
        state.add(Account(id: id, name: name))
      }
      for node in top["users"].map({ reader.list($0, what: "users") }) ?? [] {
        if let user = readUser(node, reader: &reader, state: state) {
          state.add(user)
        }
      }
      for node in top["routes"].map({ reader.list($0, what: "routes") }) ?? [] {
        guard
          let fields = reader.mapping(
            node, what: "a route", keys: ["line", "user"], required: ["line", "user"]),
          let line = fields["line"].flatMap({ reader.string($0, what: "line") }),
          let user = fields["user"].flatMap({ reader.string($0, what: "user") })
        else { continue }
        if state.users[user] == nil {
          reader.report(
            .unknownFact,
            "route to unknown user '\(user)'\(Suggestion.hint(for: user, in: Array(state.users.keys)))",
            at: fields["user"]!)
          continue
        }
        state.routes.append(CallRoute(line: line, userID: user))
      }
    }
    let diagnostics = (read.diagnostics + reader.diagnostics).sortedByLocation()
    return Loaded(
      state: diagnostics.hasErrors ? nil : state, diagnostics: diagnostics, source: read.source)
  }

  private static func readUser(
    _ node: YAMLNode, reader: inout YAMLReader, state: AccountSecurityState
  ) -> User? {
    guard let fields = reader.mapping(node, what: "a user", keys: userKeys, required: userKeys)
    else { return nil }
    guard let id = fields["id"].flatMap({ reader.string($0, what: "id") }),
      let name = fields["name"].flatMap({ reader.string($0, what: "name") }),
      let roleText = fields["role"].flatMap({ reader.string($0, what: "role") }),
      let account = fields["account"].flatMap({ reader.string($0, what: "account") }),
      let phoneText = fields["phone"].flatMap({ reader.string($0, what: "phone") }),
      let email = fields["email"].flatMap({ reader.string($0, what: "email") }),
      let twoFactorNode = fields["twoFactor"]
    else { return nil }
    var valid = true
    if state.users[id] != nil {
      reader.report(.nameConflict, "user '\(id)' is defined twice", at: fields["id"]!)
      valid = false
    }
    let role = Role(rawValue: roleText)
    if role == nil {
      let cases = Role.allCases.map(\.rawValue)
      reader.report(
        .invalidValue,
        "'\(roleText)' is not a role\(Suggestion.hint(for: roleText, in: cases)); roles: \(cases.joined(separator: ", "))",
        at: fields["role"]!)
      valid = false
    }
    if state.accounts[account] == nil {
      reader.report(
        .unknownFact,
        "unknown account '\(account)'\(Suggestion.hint(for: account, in: Array(state.accounts.keys))); define it under accounts",
        at: fields["account"]!)
      valid = false
    }
    var phone: PhoneNumber?
    do {
      phone = try PhoneNumber(parsing: phoneText)
    } catch {
      reader.report(.invalidValue, "phone \(error.description)", at: fields["phone"]!)
      valid = false
    }
    if case .failure = AccountSecurityCatalog.catalog.scalars["email"]!.parse(email) {
      reader.report(.invalidValue, "email must be an email address", at: fields["email"]!)
      valid = false
    }
    var twoFactor: TwoFactorSettings?
    if let settings = reader.mapping(
      twoFactorNode, what: "twoFactor", keys: ["enabled", "channel"], required: ["enabled"])
    {
      let enabled = settings["enabled"].flatMap { reader.bool($0, what: "enabled") }
      var channel = Channel.sms
      if let channelNode = settings["channel"],
        let text = reader.string(channelNode, what: "channel")
      {
        if let parsed = Channel(rawValue: text) {
          channel = parsed
        } else {
          reader.report(
            .invalidValue, "'\(text)' is not a channel; channels: sms, email", at: channelNode)
          valid = false
        }
      }
      if let enabled { twoFactor = TwoFactorSettings(enabled: enabled, channel: channel) }
    }
    guard valid, let role, let phone, let twoFactor else { return nil }
    return User(
      id: id, name: name, role: role, account: account, phone: phone, email: email,
      twoFactor: twoFactor)
  }
}
