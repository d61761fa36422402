import AccountSecurity
import FlowEngine
import Foundation
import PostgresStore
import SQLiteStore
import Testing

/// A binary refuses a store whose schema a newer binary migrated: its rows may mean what this
/// one cannot know.
@Suite("Schema versions")
struct SchemaVersionTests {
  @Test("a SQLite store with a migration this binary does not know is refused")
  func sqliteNewer() async throws {
    let store = try await StoreFixture(.sqlite)
    let sqlite = try #require(store.sqlite)
    try await sqlite.execute("INSERT INTO grdb_migrations (identifier) VALUES ('v99-future')")
    #expect {
      _ = try SQLiteStore.open(path: sqlite.path, key: sqlite.sessionKey)
    } throws: { error in
      "\(error)".contains("was written by a newer flowctl")
    }
  }

  @Test("a PostgreSQL store with a migration this binary does not know is refused")
  func postgresNewer() async throws {
    let url = try TestPostgres.database()
    let world = try #require(
      WorldFile.load(path: packageRoot.appendingPathComponent("examples/team.yaml").path).state)
    let key = SessionKey.random()
    let store = try await PostgresStore.create(url: url, world: world, key: key)
    // The same binary opens it again; after a newer one's migration, it refuses.
    let again = try await PostgresStore.open(url: url, key: key)
    await again.close()
    try await store.execute("INSERT INTO schema_migrations (identifier) VALUES ('v99-future')")
    await store.close()
    await #expect {
      _ = try await PostgresStore.open(url: url, key: key)
    } throws: { error in
      "\(error)".contains("migrated by a newer flowctl")
    }
  }
}
