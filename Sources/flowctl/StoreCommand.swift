import AccountSecurity
import ArgumentParser
import FlowEngine
import Foundation
import PostgresStore
import SQLiteStore

/// `flowctl store`: make and inspect store files, where sessions live between processes.
struct StoreCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "store",
    abstract: "Create and inspect a store: the SQLite file where sessions live between processes.",
    discussion: """
      A store holds the directory (accounts, users, phone numbers, 2FA settings,
      call routes), every session with the flow text it runs on, codes (hashes
      only), failure counters, the audit log and the outbox. A dry-run store, made
      from a world file, delivers into simulated inboxes kept in the file.

      Examples:
        flowctl store init build/team.sqlite --world examples/team.yaml
        flowctl store inbox build/team.sqlite +15550100001 --last-code
        flowctl store audit build/team.sqlite --session 3f2a…
        flowctl store tick build/team.sqlite --at 2026-12-02T10:15:00Z
      """,
    subcommands: [
      StoreInitCommand.self, StoreInboxCommand.self, StoreAuditCommand.self,
      StoreDispatchCommand.self, StoreTickCommand.self,
    ]
  )
}

struct StoreInitCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "init",
    abstract:
      "Create a store (dry-run, or --live) with a world file's accounts, users and call routes.",
    discussion: """
      PATH is a SQLite file, or a PostgreSQL database URL
      (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE) for several processes:
      the schema is created there (migrations versioned like SQLite's; a binary
      refuses a schema newer than it knows).

      The store gets a new random key, written to PATH.key for a file, or to
      --key-file (readable by its owner only; the environment variable
      FLOWENGINE_STORE_KEY, 64 hex digits, may hold it instead). The key signs the
      store's sessions (a row changed by hand is refused), keys its code hashes
      and seals its outbox; the store keeps none of it, so keep the key apart from
      copies of the data. Every command on a database store takes the same
      --key-file. A dry-run store delivers to simulated inboxes (flowctl store
      inbox); a --live one to real providers (flowctl serve --sms-endpoint …).

      Examples:
        flowctl store init build/team.sqlite --world examples/team.yaml
        flowctl store init postgres://flow@127.0.0.1:5432/flowengine \\
          --world examples/team.yaml --key-file build/pg.key

      Exit status: 0 created; 1 the world file is invalid or the store exists
      (without --force); 5 the store cannot be written.
      """
  )

  @Argument(help: "The store to create: a file, or a postgres:// URL.", completion: .file())
  var path: String

  @Option(help: "The world file (schemas/world.schema.json).")
  var world: String

  @Option(
    name: .customLong("key-file"),
    help: ArgumentHelp(
      "Where to write the new key (default PATH.key; required for a URL).", valueName: "FILE"))
  var keyFile: String?

  @Flag(help: "Replace an existing store (a database: every table of its public schema).")
  var force = false

  @Flag(
    help: """
      A live store: its messages go to real providers (flowctl serve --sms-endpoint …), \
      never to simulated inboxes, and its clock cannot be moved.
      """)
  var live = false

  func run() async throws {
    let state = try FlowInput.world(world)
    let database = PostgresStore.isURL(path)
    guard let keyPath = keyFile ?? (database ? nil : StoreKeyFile.path(for: path)) else {
      Terminal.writeError(
        "error: a database store needs --key-file FILE: where its key is written\n")
      throw ExitCode(1)
    }
    do {
      let key = SessionKey.random()
      if !force, FileManager.default.fileExists(atPath: keyPath) {
        throw StoreError(
          "\(keyPath) already exists; use --force to replace the store and its key")
      }
      let kind: StoreKind = live ? .live : .dryRun
      if database {
        let store = try await PostgresStore.create(
          url: path, world: state, kind: kind, force: force, key: key)
        await store.close()
      } else {
        _ = try SQLiteStore.create(path: path, world: state, kind: kind, force: force, key: key)
      }
      try StoreKeyFile.write(key, to: keyPath)
    } catch let error as StoreError {
      Terminal.writeError("error: \(error)\n")
      throw ExitCode(error.message.contains("already") ? 1 : 5)
    }
    let shown = database ? ((try? PostgresStore.redacted(path)) ?? "the database") : path
    print(
      "created \(live ? "live" : "dry-run") store \(shown): \(state.accounts.count) accounts, \(state.users.count) users, \(state.routes.count) call routes; key in \(keyPath)"
    )
  }
}

struct StoreInboxCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inbox",
    abstract: "Show what a dry-run store delivered to a phone number or email address.",
    discussion: """
      Delivers whatever is still queued first. Each line is the delivery's time,
      channel, key (session:seq:index) and message, oldest first. With
      --last-code, only the code of the newest message that carries one (exit 1
      when there is none). Refused on a live store.
      """
  )

  @Argument(
    help: "The store: a SQLite file, or a postgres:// URL.", completion: .file())
  var path: String

  @Option(
    name: .customLong("key-file"),
    help: ArgumentHelp("The store's key file (default PATH.key for a file).", valueName: "FILE"))
  var keyFile: String?

  @Argument(help: "A phone number (E.164, +15550100001) or an email address.")
  var destination: String

  @Flag(help: "Print only the newest code delivered there.")
  var lastCode = false

  func run() async throws {
    let store = try await StoreOptions.open(path, keyFile: keyFile)
    do {
      let destination =
        (try? PhoneNumber(parsing: self.destination).e164) ?? self.destination
      try await store.dispatch()
      let messages = try await store.inbox(of: destination)
      if lastCode {
        guard let code = messages.last(where: { $0.code != nil })?.code else {
          Terminal.writeError("error: no code was delivered to \(self.destination)\n")
          throw ExitCode(1)
        }
        print(code)
        return
      }
      for message in messages {
        print(
          "\(AuditTime.iso8601(message.sentAt)) \(message.channel.rawValue) \(message.key) \(message.subject.map { "[\($0)] " } ?? "")\(message.body)"
        )
      }
    } catch {
      throw StoreExit.report(error)
    }
  }
}

struct StoreAuditCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit",
    abstract: "Print a store's audit log, one entry per line, oldest first.",
    discussion: """
      Every step, rejection, conflict, code sent, verification, 2FA change, number
      change and failed delivery, with its UTC time, actor, target, account, flow,
      session and outcome. Phone numbers are masked; codes never appear.
      """
  )

  @Argument(
    help: "The store: a SQLite file, or a postgres:// URL.", completion: .file())
  var path: String

  @Option(
    name: .customLong("key-file"),
    help: ArgumentHelp("The store's key file (default PATH.key for a file).", valueName: "FILE"))
  var keyFile: String?

  @Option(help: "Only the entries of this session.")
  var session: String?

  @Flag(help: "One JSON object per line.")
  var json = false

  func run() async throws {
    let store = try await StoreOptions.open(path, keyFile: keyFile)
    do {
      for entry in try await store.audit(session: session) {
        if json {
          let encoder = JSONEncoder()
          encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
          print(String(decoding: try encoder.encode(entry), as: UTF8.self))
        } else {
          print(
            "\(entry.time) \(entry.kind.rawValue) session=\(entry.session) flow=\(entry.flow) actor=\(entry.actor) target=\(entry.target) account=\(entry.account) outcome=\(entry.outcome): \(entry.detail)"
          )
        }
      }
    } catch {
      throw StoreExit.report(error)
    }
  }
}

struct StoreDispatchCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dispatch",
    abstract: "Deliver every message a store committed but has not delivered yet.",
    discussion: """
      flowctl session start and send deliver after each step; this command
      delivers what a process that died after its commit left queued. Deliveries
      are at least once, each with a stable key (session:seq:index) so that
      duplicates are dropped.
      """
  )

  @Argument(
    help: "The store: a SQLite file, or a postgres:// URL.", completion: .file())
  var path: String

  @Option(
    name: .customLong("key-file"),
    help: ArgumentHelp("The store's key file (default PATH.key for a file).", valueName: "FILE"))
  var keyFile: String?

  func run() async throws {
    let store = try await StoreOptions.open(path, keyFile: keyFile)
    do {
      let count = try await store.dispatch()
      print("delivered \(count), \(try await store.pendingDeliveries()) pending")
    } catch {
      throw StoreExit.report(error)
    }
  }
}

struct StoreTickCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tick",
    abstract: "Fire every timer of a store that is due: idle timeouts (after) and deadlines.",
    discussion: """
      Each due timer fires once, in due order, as a step of its session (its
      guards, actions and audit entry `timer` commit together), at its due time.
      A timer whose session has moved on since it was set is void; a second tick
      fires nothing new. What the firings queued for delivery is delivered after.
      flowctl serve runs the same as a background service.

      --at moves a dry-run store's clock to that UTC time first (ISO 8601, such
      as 2026-12-02T10:15:00Z), for this command and every later one on the
      store: a dry-run store's time only moves forward. A live store runs on
      real time and refuses --at.

      Each line: session, the timer (after 15m in editingPhone, deadline 1h),
      and where the session went. Exit status: 0 ticked (whether or not a timer
      was due); 1 bad --at, or --at on a live store, or a time earlier than the
      store's; 5 the store failed (nothing of the failed batch was kept).

      Example:
        flowctl store tick build/team.sqlite --at 2026-12-02T10:15:00Z
      """
  )

  @Argument(
    help: "The store: a SQLite file, or a postgres:// URL.", completion: .file())
  var path: String

  @Option(
    name: .customLong("key-file"),
    help: ArgumentHelp("The store's key file (default PATH.key for a file).", valueName: "FILE"))
  var keyFile: String?

  @Option(
    help: ArgumentHelp(
      "Move a dry-run store's clock to this UTC time first.", valueName: "2026-12-02T10:15:00Z"))
  var at: String?

  @Flag(help: "One JSON object per firing.")
  var json = false

  func run() async throws {
    let store = try await StoreOptions.open(path, keyFile: keyFile)
    if let at {
      guard let time = Self.parse(at) else {
        Terminal.writeError(
          "error: --at '\(at)' is not a UTC time in ISO 8601, such as 2026-12-02T10:15:00Z\n")
        throw ExitCode(1)
      }
      do {
        try await store.moveClock(to: time)
      } catch let error as StoreError {
        Terminal.writeError("error: \(error)\n")
        throw ExitCode(1)
      }
    }
    do {
      let engine = SessionEngine(commandsOn: store)
      let firings = try await engine.tick()
      // Fault injection for the crash tests: die between the commit and any output.
      if ProcessInfo.processInfo.environment["FLOWENGINE_FAULT"] == "kill-after-commit" {
        kill(getpid(), SIGKILL)
      }
      var fired = 0
      for firing in firings {
        for trace in firing.traces {
          fired += 1
          let outcome = firing.session.outcome.map { ", outcome \($0)" } ?? ""
          let what =
            trace.rejection.map { "refused (\($0.kind)); the timer is spent" }
            ?? "\(trace.from) → \(trace.to)\(outcome)"
          if json {
            var object: [String: Any] = [
              "session": firing.session.id, "timer": trace.timer ?? "", "from": trace.from,
              "to": trace.to, "accepted": trace.accepted, "seq": firing.session.seq,
            ]
            if let outcome = trace.outcome { object["outcome"] = outcome }
            if let rejection = trace.rejection { object["rejection"] = rejection.kind }
            print(TraceRenderer.line(object), terminator: "")
          } else {
            print("\(firing.session.id) \(trace.timer ?? "timer"): \(what)")
          }
        }
      }
      try await store.dispatch()
      if !json {
        print(
          "fired \(fired) timer\(fired == 1 ? "" : "s") in \(firings.count) session\(firings.count == 1 ? "" : "s") at \(AuditTime.iso8601(store.clock.now()))"
        )
      }
    } catch {
      throw StoreExit.report(error)
    }
  }

  /// `2026-12-02T10:15:00Z` (seconds optional fractions not accepted) as seconds since 1970.
  static func parse(_ text: String) -> Int? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    guard text.hasSuffix("Z"), let date = formatter.date(from: text) else { return nil }
    return Int(date.timeIntervalSince1970)
  }
}
