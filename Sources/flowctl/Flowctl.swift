import ArgumentParser
import Logging
import Synchronization

/// `flowctl`: validate, run and inspect declarative flows from the command line.
@main
struct Flowctl: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flowctl",
    abstract: "Validate, run and inspect declarative account-security flows.",
    discussion: """
      Flows are YAML files (see docs/flow-language.md). Start with:

        flowctl validate flows/*.yaml

      Dry runs keep everything in memory (flowctl run). Sessions that outlive a
      process live in a store file (flowctl store init, then flowctl session
      start/send/show). Web apps run them over HTTP (flowctl serve).
      """,
    version: "0.2.0",
    subcommands: [
      ValidateCommand.self, RunCommand.self, GraphCommand.self, CheckCommand.self, TestCommand.self,
      PathsCommand.self, MutateCommand.self, StoreCommand.self, SessionCommand.self,
      CatalogCommand.self, ServeCommand.self, TokenCommand.self,
    ]
  )

  /// Logs go to standard error at warning level, or info with `flowctl run --verbose`.
  static func main() async {
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = Verbosity.verbose.withLock { $0 } ? .info : .warning
      return handler
    }
    await main(nil)
  }
}

/// Whether a command asked for step-by-step logging (read when loggers are made).
enum Verbosity {
  static let verbose = Mutex(false)
}
