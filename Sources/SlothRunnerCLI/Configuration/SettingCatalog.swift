import Foundation
import SlothRunner

/// Every setting sloth-runner reads, in the order `config show` lists them. The HTTP server and
/// the event sources add theirs here, under their own sections.
enum SettingCatalog {
    static let all: [Setting] = [
        Setting(key: "database", environment: "SLOTH_RUNNER_DB", flag: "--db", kind: .path, defaultValue: nil,
                help: "SQLite database file, or a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL for the PostgreSQL store (default: $SLOTH_RUNNER_HOME/sloth.db, or ~/.sloth-runner/sloth.db)",
                environmentAlias: "SLOTH_RUNNER_DATABASE_URL"),
        Setting(key: "log.level", environment: "SLOTH_RUNNER_LOG_LEVEL", flag: "--log-level",
                kind: .choice(["trace", "debug", "info", "notice", "warn", "warning", "error", "critical"]), defaultValue: .text("info"),
                help: "least severe log level written to stderr"),
        Setting(key: "log.format", environment: "SLOTH_RUNNER_LOG_FORMAT", flag: "--log-format", kind: .choice(["text", "json"]),
                defaultValue: .text("text"), help: "text for people, json for one object per line"),
        Setting(key: "serve.workers", environment: "SLOTH_RUNNER_WORKERS", flag: "--workers", kind: .integer(1...100_000),
                defaultValue: .integer(100), help: "events processed at once"),
        Setting(key: "serve.queue_size", environment: "SLOTH_RUNNER_QUEUE_SIZE", flag: "--queue-size", kind: .integer(1...10_000_000),
                defaultValue: .integer(1000), help: "claimed events held in memory for the workers"),
        Setting(key: "serve.node_id", environment: "SLOTH_RUNNER_NODE_ID", flag: "--node-id", kind: .name, defaultValue: nil,
                help: "name of this node in leases (default: the host name)"),
        Setting(key: "serve.node_tags", environment: "SLOTH_RUNNER_NODE_TAGS", flag: "--node-tag", kind: .list, defaultValue: nil,
                help: "this node's tags: hooks declaring nodes = {...} run only on nodes with all of them"),
        Setting(key: "serve.lease", environment: "SLOTH_RUNNER_LEASE", flag: "--lease", kind: .duration(1...86_400),
                defaultValue: .text("30s"), help: "lease length of a claim"),
        Setting(key: "serve.grace", environment: "SLOTH_RUNNER_GRACE", flag: "--grace", kind: .duration(0...86_400),
                defaultValue: .text("30s"), help: "how long running hooks may finish after SIGTERM"),
        Setting(key: "serve.poll", environment: "SLOTH_RUNNER_POLL", flag: "--poll", kind: .duration(0.001...3600),
                defaultValue: .text("20ms"), help: "how often to look for events from other processes while the store is written; quiet: once a second"),
        Setting(key: "serve.sync", environment: "SLOTH_RUNNER_SYNC", flag: "--sync", kind: .choice(["normal", "full"]),
                defaultValue: .text("normal"), help: "SQLite durability: normal survives a crash, full also a power loss"),
        Setting(key: "serve.max_chain_depth", environment: "SLOTH_RUNNER_MAX_CHAIN_DEPTH", flag: "--max-chain-depth", kind: .integer(0...100),
                defaultValue: .integer(8), help: "longest chain of events dispatched by hooks"),
        Setting(key: "serve.lua_threads", environment: "SLOTH_RUNNER_LUA_THREADS", flag: "--lua-threads", kind: .integer(1...256),
                defaultValue: nil, help: "Lua executor threads (default: one per core)"),
        Setting(key: "serve.retain_completed", environment: "SLOTH_RUNNER_RETAIN_COMPLETED", flag: "--retain-completed",
                kind: .duration(0...DurationText.maxSeconds), defaultValue: .text("168h"), help: "keep completed events this long; 0 keeps them forever"),
        Setting(key: "serve.retain_failed", environment: "SLOTH_RUNNER_RETAIN_FAILED", flag: "--retain-failed",
                kind: .duration(0...DurationText.maxSeconds), defaultValue: .text("720h"), help: "keep failed events this long; 0 keeps them forever"),
        Setting(key: "serve.retain_changes", environment: "SLOTH_RUNNER_RETAIN_CHANGES", flag: "--retain-changes",
                kind: .duration(0...DurationText.maxSeconds), defaultValue: .text("24h"),
                help: "keep the change journal behind GET /stream this long (a client reconnecting later is told what it missed); 0 keeps it forever"),
        Setting(key: "sources.engine_events", environment: "SLOTH_RUNNER_ENGINE_EVENTS", flag: "--no-engine-events", kind: .boolean,
                defaultValue: .boolean(true), help: "emit the engine's own events: system.startup, system.shutdown, system.error"),
        Setting(key: "serve.strict_permissions", environment: "SLOTH_RUNNER_STRICT_PERMISSIONS", flag: "--strict-permissions", kind: .boolean,
                defaultValue: .boolean(false), help: "deny hooks every capability they do not declare in `permissions`"),
        Setting(key: "serve.hook_env", environment: "SLOTH_RUNNER_HOOK_ENV", flag: "--hook-env", kind: .list, defaultValue: nil,
                help: "environment variables hooks may read with env.get (default: all)"),
        Setting(key: "serve.max_dispatches_per_run", environment: "SLOTH_RUNNER_MAX_DISPATCHES_PER_RUN", flag: "--max-dispatches-per-run",
                kind: .integer(0...1_000_000), defaultValue: .integer(1000), help: "most events one hook run may dispatch"),
        Setting(key: "serve.max_data_bytes", environment: "SLOTH_RUNNER_MAX_DATA_BYTES", flag: "--max-data-bytes", kind: .integer(1...(64 << 20)),
                defaultValue: .integer(NewEvent.defaultMaxDataBytes), help: "largest event data accepted, in bytes"),
        Setting(key: "serve.max_output_bytes", environment: "SLOTH_RUNNER_MAX_OUTPUT_BYTES", flag: "--max-output-bytes", kind: .integer(0...(16 << 20)),
                defaultValue: .integer(64 * 1024), help: "output (print and log) kept per hook run, in bytes"),
        Setting(key: "http.address", environment: "SLOTH_RUNNER_HTTP", flag: "--http", kind: .listenAddress,
                defaultValue: .text("127.0.0.1:7077"), help: "where serve's HTTP API listens (HOST:PORT, port 0 for any free one), or off"),
        Setting(key: "http.max_body_bytes", environment: "SLOTH_RUNNER_HTTP_MAX_BODY_BYTES", flag: "--http-max-body-bytes",
                kind: .integer(1024...(64 << 20)), defaultValue: .integer(1 << 20), help: "largest HTTP request body accepted (413 beyond it)"),
        Setting(key: "http.idle_timeout", environment: "SLOTH_RUNNER_HTTP_IDLE_TIMEOUT", flag: "--http-idle-timeout",
                kind: .duration(1...3600), defaultValue: .text("60s"), help: "an HTTP connection idle this long (or a request this slow to arrive) is closed"),
        Setting(key: "http.header_timeout", environment: "SLOTH_RUNNER_HTTP_HEADER_TIMEOUT", flag: "--http-header-timeout",
                kind: .duration(0.05...3600), defaultValue: .text("10s"), help: "a client must send a request's headers within this from its first byte, or is cut off"),
        Setting(key: "http.rate_limit", environment: "SLOTH_RUNNER_HTTP_RATE_LIMIT", flag: "--http-rate-limit", kind: .rate,
                defaultValue: .text("off"), help: "requests per client (API token, or address without one) at most, as 100/s, 600/m or 10000/h; 429 beyond it"),
        Setting(key: "http.max_connections", environment: "SLOTH_RUNNER_HTTP_MAX_CONNECTIONS", flag: "--http-max-connections",
                kind: .integer(1...1_000_000), defaultValue: .integer(10_000), help: "open HTTP connections at most; beyond it new ones wait until one closes"),
        Setting(key: "http.stream_heartbeat", environment: "SLOTH_RUNNER_HTTP_STREAM_HEARTBEAT", flag: "--http-stream-heartbeat",
                kind: .duration(0.05...3600), defaultValue: .text("15s"), help: "a quiet GET /stream sends a heartbeat comment this often"),
        Setting(key: "http.tls_cert", environment: "SLOTH_RUNNER_TLS_CERT", flag: "--tls-cert", kind: .path, defaultValue: nil,
                help: "serve the HTTP API over TLS with this PEM certificate chain (with http.tls_key)"),
        Setting(key: "http.tls_key", environment: "SLOTH_RUNNER_TLS_KEY", flag: "--tls-key", kind: .path, defaultValue: nil,
                help: "the PEM private key of http.tls_cert"),
    ]

    static let byKey: [String: Setting] = Dictionary(uniqueKeysWithValues: all.map { ($0.key, $0) })

    /// The file's sections and the keys each holds (`serve` → `workers`, ...).
    static let sections: [String: Set<String>] = {
        var out: [String: Set<String>] = [:]
        for s in all {
            let parts = s.key.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 2 { out[parts[0], default: []].insert(parts[1]) }
        }
        return out
    }()
}
