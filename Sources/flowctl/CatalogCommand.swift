import AccountSecurity
import ArgumentParser
import FlowEngine

/// `flowctl catalog`: the actions a flow may call, as docs/flow-language.md section 5 shows them.
struct CatalogCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "catalog",
    abstract:
      "Print the actions flows may call and the messages they may word, in Markdown.",
    discussion: """
      The table of section 5 of docs/flow-language.md, generated from the 2FA
      catalog the validator checks flows against: each action's arguments (type,
      required or optional, allowed range) and result fields, in the catalog's
      own words; then the messages a flow may word in `messages:`, with their
      variants, placeholders and default wording. A test fails when the docs and
      the catalog drift apart.
      """
  )

  func run() {
    let catalog = AccountSecurityCatalog.catalog
    print(catalog.actionsMarkdown)
    print("Messages a flow may word in `messages:` (see *Messages* below):\n")
    print(catalog.messagesMarkdown, terminator: "")
  }
}
