import Foundation
import Logging
import SlothRunner
import SlothRunnerSources
import NIOSSL
import SlothRunnerServer

/// `serve`'s effective settings turned into what it runs with; every value was already checked
/// by `Setting.parse`, the engine's own rules (`EngineConfiguration.validate`) are checked here
/// with the setting's origin in the message.
struct ServePlan {
    var engine = EngineConfiguration()
    var sync = SQLiteSynchronous.normal
    var graceSeconds: Double = 30
    /// Whether the engine-events source runs (system.startup, system.shutdown, system.error).
    var engineEvents = true
    /// The config file's `monitor:` section, checked.
    var monitor: SystemMonitorSource.Settings?
    /// The config file's `checks:` section, checked (nil without the section).
    var checks: [HealthCheck]?
    /// The config file's `watches:` section, checked (nil without the section).
    var watches: [FileWatch]?
    /// The config file's `schedules:` section, checked (nil without the section).
    var schedules: [Schedule]?
    /// The HTTP API's settings; nil with `--http off`.
    var http: APIServerSettings?
    /// Where the address came from, for the message when it may not be used.
    var httpOrigin = "--http"

    /// Without a live API token the API is open, so it may listen only where nobody but this
    /// machine reaches it (checked once the store is open).
    func checkAccess(liveTokens: Bool) throws(SlothError) {
        guard let http, !http.isLoopback, !liveTokens else { return }
        throw .invalidInput(
            "\(httpOrigin) is \(ListenAddress(host: http.host, port: http.port)): with no API token the HTTP API is open, so it listens only on a loopback address (127.0.0.1:PORT, [::1]:PORT); create a token first (`sloth-runner token create NAME --role admin`), or pass --http off")
    }

    init(_ s: EffectiveSettings) throws(SlothError) {
        func int(_ key: String) -> Int? { s.integer(key) }
        func millis(_ key: String) throws(SlothError) -> Int64 { try DurationText.millis(s.text(key) ?? "0", for: s.origin(key)) }
        if let n = int("serve.workers") { engine.workers = n }
        if let n = int("serve.queue_size") { engine.queueCapacity = n }
        if let node = s.text("serve.node_id") { engine.nodeID = node }
        if let tags = s.list("serve.node_tags") {
            for tag in tags {
                do { try Hook.validateNodeTag(tag, field: s.origin("serve.node_tags")) } catch { throw .invalidInput(error.description) }
            }
            engine.nodeTags = Array(NSOrderedSet(array: tags)) as? [String] ?? tags
        }
        engine.leaseMillis = try millis("serve.lease")
        engine.pollMillis = max(1, try millis("serve.poll"))
        if let n = int("serve.max_chain_depth") { engine.maxChainDepth = n }
        if let n = int("serve.lua_threads") { engine.luaThreads = n }
        if let n = int("serve.max_dispatches_per_run") { engine.maxDispatchesPerRun = n }
        if let n = int("serve.max_data_bytes") { engine.maxDataBytes = n }
        if let n = int("serve.max_output_bytes") { engine.maxOutputBytes = n }
        let keepCompleted = try millis("serve.retain_completed"), keepFailed = try millis("serve.retain_failed")
        engine.retainCompletedMillis = keepCompleted > 0 ? keepCompleted : nil
        engine.retainFailedMillis = keepFailed > 0 ? keepFailed : nil
        let keepChanges = try millis("serve.retain_changes")
        engine.retainChangesMillis = keepChanges > 0 ? max(1000, keepChanges) : nil
        engine.strictPermissions = s.boolean("serve.strict_permissions")
        engineEvents = s.boolean("sources.engine_events")
        monitor = try s.sources["monitor"].map(SystemMonitorSource.Settings.parse)
        checks = try s.sources["checks"].map { node throws(SlothError) in try CheckDeclaration.parse(node, now: nowMillis()) }
        watches = try s.sources["watches"].map { node throws(SlothError) in try WatchDeclaration.parse(node, now: nowMillis()) }
        schedules = try s.sources["schedules"].map { node throws(SlothError) in try ScheduleDeclaration.parse(node, now: nowMillis()) }
        if let names = s.list("serve.hook_env") { engine.hookEnvironment = Set(names) }
        sync = SQLiteSynchronous(rawValue: s.text("serve.sync") ?? "normal") ?? .normal
        graceSeconds = try DurationText.seconds(s.text("serve.grace") ?? "30s", for: s.origin("serve.grace"), in: 0...86_400)
        if case .success(let address?) = ListenAddress.parse(s.text("http.address") ?? "off") {
            var api = APIServerSettings(host: address.host, port: address.port)
            api.version = "\(BuildInfo.version) (commit \(BuildInfo.commit))"
            if let n = int("http.max_body_bytes") { api.maxBodyBytes = n }
            if let n = int("http.max_connections") { api.maxConnections = n }
            api.idleTimeoutSeconds = try DurationText.seconds(s.text("http.idle_timeout") ?? "60s", for: s.origin("http.idle_timeout"), in: 1...3600)
            if case .success(let rate?) = RequestRate.parse(s.text("http.rate_limit") ?? "off") { api.rateLimit = rate }
            api.headerTimeoutSeconds = try DurationText.seconds(
                s.text("http.header_timeout") ?? "10s", for: s.origin("http.header_timeout"), in: 0.05...3600)
            api.streamHeartbeatSeconds = try DurationText.seconds(
                s.text("http.stream_heartbeat") ?? "15s", for: s.origin("http.stream_heartbeat"), in: 0.05...3600)
            switch (s.text("http.tls_cert"), s.text("http.tls_key")) {
            case (nil, nil): break
            case (let cert?, let key?):
                let chain: [NIOSSLCertificate]
                let privateKey: NIOSSLPrivateKey
                do { chain = try NIOSSLCertificate.fromPEMFile(cert) } catch {
                    throw .invalidInput("\(s.origin("http.tls_cert")): cannot read a PEM certificate chain from \(cert): \(error)")
                }
                guard !chain.isEmpty else { throw .invalidInput("\(s.origin("http.tls_cert")): \(cert) holds no PEM certificate") }
                do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
                    throw .invalidInput("\(s.origin("http.tls_key")): cannot read a PEM private key from \(key): \(error)")
                }
                api.tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
            default:
                throw .invalidInput("--tls-cert and --tls-key go together (http.tls_cert and http.tls_key): give both, or neither")
            }
            http = api
            httpOrigin = s.origin("http.address")
        }
        // Every setting is checked before anything is opened or started (5,000 Lua threads
        // are refused, not started).
        try engine.validate()
    }

    /// The configuration `serve` logs when it starts.
    func metadata(database: String, config: String?) -> Logger.Metadata {
        var m: Logger.Metadata = [
            "database": .string(database), "workers": .stringConvertible(engine.workers), "queue_size": .stringConvertible(engine.queueCapacity),
            "lua_threads": .stringConvertible(engine.luaThreads), "lease_ms": .stringConvertible(engine.leaseMillis),
            "poll_ms": .stringConvertible(engine.pollMillis), "sync": .string(sync.rawValue), "grace_s": .stringConvertible(graceSeconds),
            "strict_permissions": .stringConvertible(engine.strictPermissions), "node": .string(engine.nodeID), "node_tags": .string(engine.nodeTags.joined(separator: ",")),
        ]
        m["config"] = .string(config ?? "none")
        m["http"] = .string(http.map { ListenAddress(host: $0.host, port: $0.port).description } ?? "off")
        return m
    }
}
