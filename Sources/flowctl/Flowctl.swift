import ArgumentParser

/// `flowctl`: validate, run and inspect declarative flows from the command line.
@main
struct Flowctl: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flowctl",
    abstract: "Validate, run and inspect declarative account-security flows.",
    discussion: """
      Flows are YAML files (see docs/flow-language.md). Start with:

        flowctl validate flows/*.yaml
      """,
    version: "0.1.0",
    subcommands: [
      ValidateCommand.self, RunCommand.self, GraphCommand.self, CheckCommand.self, TestCommand.self,
      PathsCommand.self,
    ]
  )
}
