import AccountSecurity
import ArgumentParser
import FlowEngine
import Foundation
import PostgresStore
import SQLiteStore

/// The options every command on a store takes.
struct StoreOptions: ParsableArguments {
  @Option(
    name: .customLong("store"),
    help: ArgumentHelp(
      "The store: a SQLite file (made by flowctl store init), or a PostgreSQL URL (postgres://user@host:port/db).",
      valueName: "PATH|URL"))
  var path: String

  @Option(
    help: ArgumentHelp(
      "SQLite's synchronous setting: full (survives power loss) or normal (survives a crash of the process).",
      valueName: "full|normal"))
  var synchronous: SQLiteSynchronous = .full

  @Option(
    name: .customLong("key-file"),
    help: ArgumentHelp(
      "The store's key file (default: PATH.key for a file; a URL needs this or FLOWENGINE_STORE_KEY).",
      valueName: "FILE"))
  var keyFile: String?

  /// Opens the store, or prints why not and exits 5 (1 when the file is missing).
  func open() async throws -> any DurableStore {
    try await Self.open(path, synchronous: synchronous, keyFile: keyFile)
  }

  static func open(
    _ path: String, synchronous: SQLiteSynchronous = .full, keyFile: String? = nil
  ) async throws -> any DurableStore {
    do {
      if PostgresStore.isURL(path) {
        let key = try StoreKeyFile.read(for: path, file: keyFile)
        return try await PostgresStore.open(url: path, key: key)
      }
      guard FileManager.default.fileExists(atPath: path) else {
        throw StoreError("no store at \(path) (create one with flowctl store init)")
      }
      let key = try StoreKeyFile.read(for: path, file: keyFile)
      return try SQLiteStore.open(path: path, key: key, synchronous: synchronous.setting)
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

/// Where a store's key lives: never in the store file (a copy of the file alone can neither
/// forge a session nor open the outbox), but beside it in `PATH.key` (hex, readable by its
/// owner only), or in the environment variable `FLOWENGINE_STORE_KEY` (hex), which wins.
enum StoreKeyFile {
  static let environment = "FLOWENGINE_STORE_KEY"

  static func path(for store: String) -> String { store + ".key" }

  /// The key of a store: FLOWENGINE_STORE_KEY, else `file`, else PATH.key beside a file
  /// store (a database URL has no "beside": it needs one of the first two).
  static func read(for store: String, file: String? = nil) throws -> SessionKey {
    let text: String
    if let value = ProcessInfo.processInfo.environment[environment], !value.isEmpty {
      text = value
    } else {
      guard let keyFile = file ?? (PostgresStore.isURL(store) ? nil : path(for: store)) else {
        throw StoreError(
          "no key for the database store: give --key-file FILE (made by flowctl store init) or set \(environment)"
        )
      }
      guard let data = FileManager.default.contents(atPath: keyFile) else {
        throw StoreError(
          "no key for \(store): expected \(keyFile) (made by flowctl store init) or \(environment)"
        )
      }
      text = String(decoding: data, as: UTF8.self)
    }
    guard let key = SessionKey(hex: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
      throw StoreError("the key for \(store) is not 64 hexadecimal digits")
    }
    return key
  }

  /// Writes a new key beside the store, readable by its owner only.
  static func write(_ key: SessionKey, to file: String) throws {
    try? FileManager.default.removeItem(atPath: file)
    guard
      FileManager.default.createFile(
        atPath: file, contents: Data((key.hex + "\n").utf8),
        attributes: [.posixPermissions: 0o600])
    else {
      throw StoreError("cannot write the key file \(file)")
    }
  }
}
