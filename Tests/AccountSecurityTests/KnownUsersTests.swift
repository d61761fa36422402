import AccountSecurity
import Testing

/// What the SQL stores write when a step saves a user: only the rows that changed.
@Suite("Known users")
struct KnownUsersTests {
  static func ada() throws -> User {
    try User(
      storedID: "ada", name: "Ada", role: "admin", account: "acme", email: "ada@acme.example",
      e164: "+15550100001", verified: true, enabled: true, channel: "sms")
  }

  @Test("a save writes the rows that changed; an unknown user is written whole")
  func rowsOfASave() throws {
    var known = KnownUsers()
    var ada = try Self.ada()
    #expect(known.save(ada) == nil, "not read: every row")
    known.remember(ada, version: 3)
    #expect(known.read("ada")?.version == 3)
    #expect(known.save(ada) == [], "unchanged: nothing written")
    ada.phone = try PhoneNumber(parsing: "+15550109999")
    #expect(known.save(ada) == [.phone])
    #expect(known.read("ada") == nil, "its version is no longer known")
    #expect(known.saved("ada") == ada)
    ada.twoFactor.enabled = false
    ada.email = "ada@new.example"
    #expect(known.save(ada) == [.twoFactor, .profile], "compared with the last save")
    known.remember(ada, version: 5)
    #expect(known.saved("ada") == nil && known.read("ada")?.version == 5)
    known.forget()
    #expect(known.read("ada") == nil && known.save(ada) == nil)
  }

  @Test("a row this version cannot read is an integrity error, naming the user")
  func unreadableRows() {
    for (role, channel, number) in [
      ("wizard", "sms", "+15550100001"), ("admin", "pigeon", "+15550100001"),
      ("admin", "sms", "not a number"),
    ] {
      let error = #expect(throws: StoreIntegrityError.self) {
        try User(
          storedID: "ada", name: "Ada", role: role, account: "acme", email: "ada@acme.example",
          e164: number, verified: true, enabled: true, channel: channel)
      }
      #expect(error?.description == "user ada has a row this version cannot read")
    }
  }
}
