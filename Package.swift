// swift-tools-version:6.1
import Foundation
import PackageDescription

let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
  name: "FlowEngine",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "FlowEngine", targets: ["FlowEngine"]),
    .library(name: "AccountSecurity", targets: ["AccountSecurity"]),
    .library(name: "FlowTesting", targets: ["FlowTesting"]),
    .library(name: "SQLiteStore", targets: ["SQLiteStore"]),
    .library(name: "PostgresStore", targets: ["PostgresStore"]),
    .executable(name: "flowctl", targets: ["flowctl"]),
  ],
  dependencies: [
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
  ],
  targets: [
    // Domain-free: model, loading, validation (and later compilation, runtime, analysis).
    // Uses the libyaml that Yams ships (module CYaml) through an event-level composer of
    // its own, so that limits, duplicate keys and aliases are under our control.
    .target(
      name: "FlowEngine",
      dependencies: [
        .product(name: "Yams", package: "Yams"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
    // The 2FA domain: the catalog of facts and actions flows may use.
    .target(
      name: "AccountSecurity",
      dependencies: ["FlowEngine", .product(name: "Crypto", package: "swift-crypto")],
      swiftSettings: strictSettings
    ),
    // The embedded store: sessions, flow texts, the outbox and the 2FA domain's tables in one
    // SQLite file through GRDB.
    .target(
      name: "SQLiteStore",
      dependencies: [
        "FlowEngine", "AccountSecurity", .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      swiftSettings: strictSettings
    ),
    // The store for several processes: PostgreSQL through postgres-nio.
    .target(
      name: "PostgresStore",
      dependencies: [
        "FlowEngine", "AccountSecurity", .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
    // The HTTP service (`flowctl serve`): sessions of any durable store over a JSON API,
    // callers identified by signed bearer tokens, deliveries to HTTP providers.
    .target(
      name: "FlowService",
      dependencies: [
        "FlowEngine", "AccountSecurity",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "JWTKit", package: "jwt-kit"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
      ],
      swiftSettings: strictSettings
    ),
    // A harness for stepping flows in Swift Testing tests, with assertions that print the trace.
    .target(
      name: "FlowTesting",
      dependencies: ["FlowEngine", "AccountSecurity"],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "flowctl",
      dependencies: [
        "FlowEngine",
        "AccountSecurity",
        "SQLiteStore",
        "PostgresStore",
        "FlowService",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),
    // Benchmarks are an executable, never a timed test: `swift run -c release flow-bench`.
    .executableTarget(
      name: "flow-bench",
      dependencies: [
        "FlowEngine", "AccountSecurity", "SQLiteStore", "PostgresStore",
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
      ],
      path: "Sources/FlowBench",
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "FlowEngineTests",
      dependencies: ["FlowEngine", "AccountSecurity"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "AccountSecurityTests",
      dependencies: [
        "FlowEngine", "AccountSecurity", .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "StoreTests",
      dependencies: ["FlowEngine", "AccountSecurity", "SQLiteStore", "PostgresStore"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "FlowTestingTests",
      dependencies: ["FlowTesting", "FlowEngine", "AccountSecurity"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "FlowctlTests",
      dependencies: [
        "FlowEngine", "FlowService", .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTesting", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      swiftSettings: strictSettings
    ),
  ]
)

// Fuzzing (scripts/fuzz.sh): a libFuzzer binary over the loader, the expression parser and the
// world and events readers. Only declared when asked for, so normal builds never see it.
if ProcessInfo.processInfo.environment["FLOWENGINE_FUZZ"] == "1" {
  package.targets.append(
    .executableTarget(
      name: "FlowFuzz",
      dependencies: ["FlowEngine", "AccountSecurity"],
      path: "Fuzz/FlowFuzz",
      swiftSettings: [.unsafeFlags(["-parse-as-library", "-sanitize=fuzzer,address"])],
      linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]
    ))
}
