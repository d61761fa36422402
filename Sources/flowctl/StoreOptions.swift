import AccountSecurity
import ArgumentParser
import FlowEngine
import SQLiteStore

/// The options every command on a store file takes.
struct StoreOptions: ParsableArguments {
  @Option(name: .customLong("store"), help: "The store file (made by flowctl store init).")
  var path: String

  @Option(
    help: ArgumentHelp(
      "SQLite's synchronous setting: full (survives power loss) or normal (survives a crash of the process).",
      valueName: "full|normal"))
  var synchronous: SQLiteSynchronous = .full

  /// Opens the store, or prints why not and exits 5 (1 when the file is missing).
  func open() throws -> SQLiteStore {
    try Self.open(path, synchronous: synchronous)
  }

  static func open(_ path: String, synchronous: SQLiteSynchronous = .full) throws -> SQLiteStore {
    do {
      return try SQLiteStore.open(path: path, synchronous: synchronous.setting)
    } catch let error as StoreError {
      Terminal.writeError("error: \(error)\n")
      throw ExitCode(error.message.hasPrefix("no store at") ? 1 : 5)
    }
  }
}

enum SQLiteSynchronous: String, ExpressibleByArgument, CaseIterable {
  case full
  case normal

  var setting: SQLiteStore.Synchronous { self == .full ? .full : .normal }
}

/// Exit statuses of the commands on a store (a contract for scripts).
enum StoreExit {
  static let accepted: Int32 = 0
  static let badInput: Int32 = 1
  static let rejected: Int32 = 3
  static let conflict: Int32 = 4
  static let storeError: Int32 = 5

  /// Prints an engine or store failure and gives its exit status.
  static func report(_ error: any Error) -> ExitCode {
    switch error {
    case let failure as SessionEngine.Failure:
      Terminal.writeError("error: \(failure)\n")
      switch failure {
      case .unknownSession, .unknownSubject, .invalidFlow: return ExitCode(badInput)
      case .conflict: return ExitCode(conflict)
      case .corruptSession: return ExitCode(storeError)
      }
    case let failure as StoreError:
      Terminal.writeError("error: store: \(failure)\n")
      return ExitCode(storeError)
    case let exit as ExitCode:
      return exit
    default:
      Terminal.writeError("error: \(error)\n")
      return ExitCode(storeError)
    }
  }
}
