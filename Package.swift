// swift-tools-version:6.1
import PackageDescription

// Module boundaries follow the direction the code reads in:
// model → store → Lua runtime → engine (all in `SlothRunner`, one folder each) → CLI.
// The core depends on system C libraries plus one small package for the hook modules (Yams),
// so it builds and tests in a few minutes; the HTTP server and PostgreSQL store arrive later
// as their own modules. Hooks' Mustache templates are rendered by our own bounded renderer
// (Modules/Template), not swift-mustache, which cannot be stopped mid-render.
let package = Package(
    name: "sloth-runner",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SlothRunner", targets: ["SlothRunner"]),
        .executable(name: "sloth-runner", targets: ["SlothRunnerCLI"]),
        // Started by `exec.run` (found next to the running binary); a few kilobytes of C.
        .executable(name: "sloth-exec-supervisor", targets: ["SlothExecSupervisor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(name: "CLua", pkgConfig: "lua5.4", providers: [.apt(["liblua5.4-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),
        .target(name: "CLuaShim", dependencies: ["CLua"]),
        .target(name: "CSQLiteVFS", dependencies: ["CSQLite"]),
        // Runs each `exec.run` command under a subreaper of its own, so no descendant outlives it.
        .target(name: "CExecSupervisor"),
        // Its own program so the engine starts it with posix_spawn instead of forking itself.
        // Linked statically: a C program linked the default way loads the Swift runtime it never
        // uses, and relocating it made every start cost 2.9 ms instead of 0.7 ms (measured; see
        // README, exec). The flag applies to this executable only, which no library product holds.
        // (The linker's warning about `dlopen` in a static program comes from the Swift runtime
        // archive swiftc always adds; nothing in this program reaches it.)
        .executableTarget(
            name: "SlothExecSupervisor", dependencies: ["CExecSupervisor"],
            linkerSettings: [.unsafeFlags(["-static-executable"])]),
        .target(
            name: "SlothRunner",
            dependencies: [
                "CLua", "CLuaShim", "CSQLite", "CSQLiteVFS", "CLinux", "CExecSupervisor",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The PostgreSQL store: a second driver behind the same `EventStoreDriver` seam (River's
        // shape), for many `serve` nodes on one database. Its own module, so the engine never
        // depends on postgres-nio and SQLite users never build it into anything but the CLI.
        .target(
            name: "SlothRunnerPostgres",
            dependencies: [
                "SlothRunner",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Event sources: what produces events on its own (the engine's own events, the
        // scheduler, …), each a small plugin run as a service of `serve`'s group. Between the
        // engine and the server: sources → server → CLI.
        .target(
            name: "SlothRunnerSources",
            dependencies: [
                "SlothRunner", "CLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // Health checks' probes: HTTP on AsyncHTTPClient, TCP connects on NIO.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The daemon's HTTP API (Hummingbird 2): its own module, so the engine never depends on
        // a web framework and the arrow stays one-way (engine → server → CLI).
        .target(
            name: "SlothRunnerServer",
            dependencies: [
                "SlothRunner", "SlothRunnerSources",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            // The web UI's templates and assets are embedded by WebAssetsPlugin, not compiled.
            exclude: ["WebUI/Assets"],
            plugins: ["OpenAPIDocumentPlugin", "WebAssetsPlugin"]
        ),
        // The server serves the repository's openapi.yaml, embedded at build time.
        .plugin(name: "OpenAPIDocumentPlugin", capability: .buildTool()),
        // And its web UI, embedded the same way.
        .plugin(name: "WebAssetsPlugin", capability: .buildTool()),
        .executableTarget(
            name: "SlothRunnerCLI",
            dependencies: [
                "SlothRunner", "SlothRunnerSources", "SlothRunnerServer", "SlothRunnerPostgres", "CLinux", "CSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // `sloth-runner status` asks the daemon over its HTTP API.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                // The bench's loopback HTTPS server (a test CA and certificate, NIO with TLS).
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            plugins: ["BuildInfoPlugin"]
        ),
        // `sloth-runner --version`: the version file and the git commit, recorded at build time.
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        // How a program embeds the engine (built in CI, run by a test).
        .executableTarget(name: "sloth-runner-embed-example", dependencies: ["SlothRunner"], path: "Examples/Embed"),
        // Fixtures shared by the test targets (a loopback HTTP server); not part of any product.
        .target(name: "SlothTestSupport", path: "Sources/SlothTestSupport"),
        // The shared store behaviour suite runs against both drivers, so it sees the PostgreSQL one.
        .testTarget(name: "SlothRunnerTests", dependencies: ["SlothRunner", "SlothRunnerPostgres", "SlothTestSupport", "CSQLite"], exclude: ["Fixtures"]),
        // The server's parts that need no running server (rate buckets on an injected clock).
        .testTarget(name: "SlothRunnerServerTests", dependencies: ["SlothRunnerServer"]),
        // Sources on an injected clock against a real store and engine.
        .testTarget(name: "SlothRunnerSourcesTests", dependencies: ["SlothRunnerSources", "SlothRunner"]),
        .testTarget(
            name: "SlothRunnerCLITests",
            dependencies: [
                "SlothRunner", "SlothTestSupport", "CSQLite", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
    ]
)
