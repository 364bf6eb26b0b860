import ArgumentParser
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SlothRunner
import SlothRunnerSources
import SlothRunnerServer
import Synchronization

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the engine as a daemon: claim events, run hooks, recover leases.",
        discussion: """
            Events dispatched by other processes (the CLI) are picked up at once: serve watches the
            database's files (inotify) and polls at --poll while they are being written, once a
            second while they are quiet.
            SIGINT or SIGTERM stop intake, let running hooks finish for --grace, and hand back
            anything unfinished: nothing accepted is lost. A second signal stops at once.

            Every flag can also be set in the config file (serve.workers, ...) or the
            environment (SLOTH_RUNNER_WORKERS, ...); flags win over the environment, the
            environment over the file. `sloth-runner config show` prints what applies.

            The HTTP API (events, hooks, state, webhooks, /metrics, health checks; see
            docs/http-api.md) listens on --http, 127.0.0.1:7077 by default; --http off turns it
            off. Without an API token (`sloth-runner token create`) it is open, so it listens
            only on a loopback address.

            Examples:
              sloth-runner serve
              sloth-runner serve --http 127.0.0.1:8080
              sloth-runner serve --http off
              sloth-runner serve --workers 200 --queue-size 5000 --grace 60s --sync full
              sloth-runner --log-level debug --log-format json serve
              sloth-runner serve --config /etc/sloth-runner/config.yaml
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Events processed at once (default 100).") var workers: String?
    @Option(help: "Claimed events held in memory for the workers (default 1000).") var queueSize: String?
    @Option(help: "Name of this node in leases (default: host name).") var nodeID: String?
    @Option(name: .customLong("node-tag"), help: "A tag of this node (repeatable): hooks declaring nodes = {\"TAG\"} run only on nodes with all their tags.")
    var nodeTags: [String] = []
    @Option(help: "Lease length of a claim (default 30s).") var lease: String?
    @Option(help: "How long running hooks may finish after SIGTERM (default 30s).") var grace: String?
    @Option(help: "How often to look for events from other processes while the store is being written (default 20ms; once a second while it is quiet).") var poll: String?
    @Option(help: "SQLite durability: normal (survives a crash) or full (also a power loss).") var sync: String?
    @Option(help: "Longest chain of events dispatched by hooks (default 8).") var maxChainDepth: String?
    @Option(help: "Lua executor threads (default: one per core).") var luaThreads: String?
    @Option(help: "Keep completed events this long; 0 keeps them forever (default 168h).") var retainCompleted: String?
    @Option(help: "Keep failed events this long; 0 keeps them forever (default 720h).") var retainFailed: String?
    @Option(help: "Keep the change journal behind GET /stream this long; 0 keeps it forever (default 24h).") var retainChanges: String?
    @Flag(help: "Deny hooks every capability (exec, http, file, secrets, env) they do not declare in `permissions`.")
    var strictPermissions = false
    @Flag(help: "Do not emit the engine's own events (system.startup, system.shutdown, system.error).")
    var noEngineEvents = false
    @Option(help: "Comma-separated environment variables hooks may read with env.get (default: all).")
    var hookEnv: String?
    @Option(help: "Most events one hook run may dispatch (default 1000).") var maxDispatchesPerRun: String?
    @Option(help: "Largest event data accepted, in bytes (default 1048576).") var maxDataBytes: String?
    @Option(help: "Output (print and log) kept per hook run, in bytes (default 65536).") var maxOutputBytes: String?
    @Option(help: "Where the HTTP API listens: HOST:PORT (port 0: any free one) or off (default 127.0.0.1:7077).") var http: String?
    @Option(help: "Largest HTTP request body accepted, in bytes (default 1048576).") var httpMaxBodyBytes: String?
    @Option(help: "Close an HTTP connection idle this long, or a request this slow to arrive (default 60s).") var httpIdleTimeout: String?
    @Option(help: "Open HTTP connections at most; beyond it new ones wait until one closes (default 10000).") var httpMaxConnections: String?
    @Option(help: "Cut off a client that takes longer to send a request's headers (default 10s).") var httpHeaderTimeout: String?
    @Option(help: "Requests per client (its API token, or its address) at most: 100/s, 600/m, 10000/h, or off (default off).") var httpRateLimit: String?
    @Option(help: "A quiet event stream (GET /api/v1/stream) sends a heartbeat this often (default 15s).") var httpStreamHeartbeat: String?
    @Option(help: "Serve the HTTP API over TLS with this PEM certificate chain (with --tls-key).") var tlsCert: String?
    @Option(help: "The PEM private key of --tls-cert.") var tlsKey: String?

    /// The flags given, by setting key.
    var flags: [String: String] {
        var out: [String: String] = [:]
        let given: [(String, String?)] = [
            ("serve.workers", workers), ("serve.queue_size", queueSize), ("serve.node_id", nodeID), ("serve.lease", lease),
            ("serve.grace", grace), ("serve.poll", poll), ("serve.sync", sync), ("serve.max_chain_depth", maxChainDepth),
            ("serve.lua_threads", luaThreads), ("serve.retain_completed", retainCompleted), ("serve.retain_failed", retainFailed),
            ("serve.strict_permissions", strictPermissions ? "true" : nil), ("sources.engine_events", noEngineEvents ? "false" : nil), ("serve.hook_env", hookEnv),
            ("serve.max_dispatches_per_run", maxDispatchesPerRun), ("serve.max_data_bytes", maxDataBytes),
            ("serve.max_output_bytes", maxOutputBytes), ("http.address", http), ("http.max_body_bytes", httpMaxBodyBytes),
            ("http.idle_timeout", httpIdleTimeout), ("http.tls_cert", tlsCert), ("http.tls_key", tlsKey),
            ("http.max_connections", httpMaxConnections), ("serve.retain_changes", retainChanges),
            ("http.stream_heartbeat", httpStreamHeartbeat), ("http.header_timeout", httpHeaderTimeout),
            ("http.rate_limit", httpRateLimit), ("serve.node_tags", nodeTags.isEmpty ? nil : nodeTags.joined(separator: ",")),
        ]
        for (key, value) in given { if let value { out[key] = value } }
        return out
    }

    /// The registry `/metrics` shows; swift-metrics is bootstrapped onto it once, before the
    /// engine makes its metrics.
    static let metricsRegistry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Hook runs last milliseconds to minutes.
        factory.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2), .seconds(10), .seconds(60)]
        // Store commits take microseconds to milliseconds, and hold 1 to a few hundred jobs.
        factory.durationHistogramBuckets["sloth_store_commit_seconds"] = [
            .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .seconds(1),
        ]
        factory.valueHistogramBuckets["sloth_store_commit_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// The config file's `checks:`, `watches:` and `schedules:` (checked when the plan was
    /// made) become the store's declared ones, as webhooks do: added, changed, and those the
    /// file no longer declares removed. A schedule declared again keeps its progress. Without
    /// a config file the store's are left as they are.
    static func applyDeclaredSources(_ plan: ServePlan, _ settings: EffectiveSettings, to store: any EventStoreDriver, logger: Logger) async throws {
        guard let path = settings.configPath else { return }
        for (what, sync) in [
            ("checks", { try await store.checkSync(declared: plan.checks ?? []) }),
            ("watches", { try await store.watchSync(declared: plan.watches ?? []) }),
            ("schedules", { try await store.scheduleSync(declared: plan.schedules ?? []) }),
        ] as [(String, () async throws -> (added: [String], changed: [String], removed: [String]))] {
            let result = try await sync()
            if !(result.added.isEmpty && result.changed.isEmpty && result.removed.isEmpty) {
                logger.notice("\(what) from \(path): added \(result.added), changed \(result.changed), removed \(result.removed)", metadata: ["config": "\(path)"])
            }
        }
    }

    /// The config file's `webhooks:` become the store's declared webhooks (added, changed, and
    /// those the file no longer declares removed), all checked before any is written: a bad entry
    /// stops `serve` with its file and line, and changes nothing. Without a config file the
    /// store's webhooks are left as they are.
    static func applyDeclaredWebhooks(_ settings: EffectiveSettings, to store: any EventStoreDriver, logger: Logger) async throws {
        guard let path = settings.configPath, let entries = settings.webhooks else { return }
        let secrets = Set(try await store.secretList().map(\.name))
        var declared: [Webhook] = []
        for entry in entries {
            func field(_ key: String) -> String { "\(path):\(entry.fields[key]?.line ?? entry.line): webhooks.\(entry.name).\(key)" }
            let webhook: Webhook
            do {
                webhook = try Webhook.declare(
                    name: entry.name, eventType: entry.fields["event_type"]!.text, verify: entry.fields["verify"]!.text,
                    secret: entry.fields["secret"]?.text, stack: entry.fields["stack"]?.text,
                    signatureHeader: entry.fields["signature_header"]?.text, deliveryHeader: entry.fields["delivery_header"]?.text,
                    declaredIn: path, now: nowMillis(), field: field, secretExists: { secrets.contains($0) })
            } catch {
                // Errors from the name or the type say which webhook; those from a field say where already.
                throw error.description.hasPrefix(path) ? error : SlothError.invalidInput("\(path):\(entry.line): webhooks.\(entry.name): \(error.description)")
            }
            declared.append(webhook)
        }
        let result = try await store.webhookSync(declared: declared)
        if !(result.added.isEmpty && result.changed.isEmpty && result.removed.isEmpty) {
            logger.notice("webhooks from \(path): added \(result.added), changed \(result.changed), removed \(result.removed)",
                          metadata: ["config": "\(path)"])
        }
    }

    func run() async throws {
        try await runReporting {
            _ = Self.metricsRegistry
            let settings = try global.settings(flags: flags)
            let plan = try ServePlan(settings)
            let logger = Logger(label: "sloth-runner")
            var config = plan.engine
            config.logger = logger
            config.version = "\(BuildInfo.version) (commit \(BuildInfo.commit))"

            ProcessStats.raiseOpenFileLimit()
            let databasePath = global.databasePath(settings)
            let postgres = try global.postgresLocation(settings)
            // On SQLite one engine serves a database; on PostgreSQL many nodes do, one per node id
            // on this machine (two with one id would take each other's leases as stale).
            let lock = try DaemonLock(databasePath: postgres == nil ? databasePath : databasePath + "-" + config.nodeID)
            guard try lock.tryAcquire() else {
                throw SlothError.conflict(
                    postgres == nil
                        ? "another sloth-runner engine (pid \(lock.holderPID ?? "?")) is already serving \(lock.databaseFile)"
                        : "another sloth-runner engine (pid \(lock.holderPID ?? "?")) already serves \(postgres!) as node '\(config.nodeID)' on this machine; give this one another --node-id")
            }
            defer { lock.release() }
            // The daemon's only children are hooks' commands: whatever one leaves behind, even
            // after killing its own supervisor, is adopted here and killed.
            ExecSupervision.adoptOrphans()
            let store = try await global.openStore(settings, synchronous: plan.sync)
            do { try plan.checkAccess(liveTokens: try await store.hasLiveTokens()) } catch {
                store.closeNow()
                throw error
            }
            do {
                try await Self.applyDeclaredWebhooks(settings, to: store, logger: logger)
                try await Self.applyDeclaredSources(plan, settings, to: store, logger: logger)
            } catch {
                store.closeNow()
                throw error
            }
            config.secrets = SecretVault(driver: store, databasePath: databasePath)
            let runtime = LuaRuntime(threads: config.luaThreads) { stuck in
                logger.error("a Lua thread was stuck in \(stuck.call ?? "a library call") running hook \(stuck.hookName ?? "(loading a hook file)") past its deadline: it was replaced and left at idle priority (\(stuck.threadsLeftBehind) so far); \(stuck.otherRuns) other run(s) on it failed and will be retried",
                             metadata: ["hook": "\(stuck.hookName ?? "")"])
            }
            let holder = ServiceHolder()
            config.onFatal = { error in
                holder.failure = error
                holder.service?.fail(error)
            }
            // A part of the engine failing and retrying (the store refusing claims, a duty) is a
            // system.error too, like a failing source (at most every 30 s per part).
            config.onComponentError = { component, error in
                guard let sources = holder.sources else { return }
                Task { await sources.reportError(component: component, error: error) }
            }
            let engine = Engine(driver: store, runtime: runtime, configuration: config)
            let service = EngineService(engine: engine, graceSeconds: plan.graceSeconds)
            holder.service = service

            // Shut down in reverse order: the HTTP API first (no new requests; those in flight
            // finish, so every 202 it gave is durable), then the engine drains.
            // The event sources come after the engine: they stop first, so `system.shutdown` is
            // committed before the engine drains.
            let signalCount = SignalCounter()
            let sources = SourcesService(
                engine: engine,
                plugins: (plan.engineEvents ? [
                    EngineEventsSource(version: "\(BuildInfo.version) (commit \(BuildInfo.commit))") {
                        signalCount.firstSignal.map(SignalWaiter.name) ?? (holder.failure.map { "fatal: \($0)" } ?? "shutdown")
                    } as any EventSourcePlugin,
                ] : []) + [SchedulerSource(), HealthCheckSource(), FileWatchSource()] + (plan.monitor.map { [SystemMonitorSource(settings: $0)] } ?? []),
                logger: logger, reportsErrors: plan.engineEvents)
            holder.sources = sources
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
                .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: sources, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
            ]
            if let http = plan.http {
                let server = try APIServer.make(engine: engine, settings: http, logger: logger, metrics: Self.metricsRegistry) { host, port in
                    let address = ListenAddress(host: host, port: port)
                    let scheme = http.tls == nil ? "http" : "https"
                    logger.info("HTTP API listening on \(scheme)://\(address)/api/v1", metadata: ["http": "\(address)", "tls": "\(http.tls != nil)"])
                }
                services.append(.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
            }
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
            // SIGINT/SIGTERM shut the group down gracefully; a second one cuts the engine's drain
            // short (what still runs is handed back at once). The signals are caught here rather
            // than by the group's own `gracefulShutdownSignals`, which are installed only once
            // `run()` is under way: one arriving while serve starts would kill nothing and stop
            // nothing. The group remembers a shutdown asked for before it runs.
            let signals = SignalWaiter([SIGINT, SIGTERM]) { sig in
                switch signalCount.next(sig) {
                case 1:
                    logger.info("received \(SignalWaiter.name(sig)); draining for up to \(DurationText.format(millis: Int64(plan.graceSeconds * 1000))) (send it again to stop at once)", metadata: ["signal": "\(SignalWaiter.name(sig))"])
                    Task { await group.triggerGracefulShutdown() }
                case 2:
                    logger.warning("received \(SignalWaiter.name(sig)) again; stopping now, handing back what still runs", metadata: ["signal": "\(SignalWaiter.name(sig))"])
                    signalCount.lastSignal = sig
                    engine.stopWaiting()
                default: break
                }
            }
            defer { withExtendedLifetime(signals) {} }
            let served = postgres.map(\.description) ?? databasePath
            logger.info("serving \(served) as \(engine.owner) (workers \(config.workers), queue \(config.queueCapacity)); pid \(getpid())",
                        metadata: plan.metadata(database: served, config: settings.configPath))
            if let sqlite = store as? SQLiteEventStore { logger.debug("database writer priority: \(WriterPriority.describe(sqlite.writerNice))") }
            if let helper = ExecSupervision.helperPath {
                logger.debug("exec.run supervisor: \(helper)")
            } else {
                logger.warning("\(ExecSupervision.helperName) not found next to this binary (or at SLOTH_RUNNER_EXEC_SUPERVISOR): each exec.run forks the whole engine instead, several times slower; install it beside sloth-runner")
            }
            var failure: (any Error)?
            do { try await group.run() } catch { failure = error }
            runtime.shutdown()
            await store.close()
            let report = service.drainReport
            logger.info((report?.finished ?? true) ? "drained; \(report?.released ?? 0) queued event(s) handed back" : "grace period over; \(report?.released ?? 0) event(s) handed back for the next run")
            if let failure {
                if let slothError = failure as? SlothError { throw slothError }
                if case let groupError as ServiceGroupError = failure { throw SlothError.runtime("the service group stopped: \(groupError)") }
                throw failure
            }
            if report?.cutShort == true, let sig = signalCount.lastSignal { throw ExitCode(SignalWaiter.exitStatus(sig)) }
        }
    }
}

/// The engine service, set once it exists (the engine's fatal handler is made before it).
private final class ServiceHolder: Sendable {
    private let value = Mutex<(service: EngineService?, failure: SlothError?)>((nil, nil))
    var service: EngineService? {
        get { value.withLock { $0.service } }
        set { value.withLock { $0.service = newValue } }
    }
    private let sourcesService = Mutex<SourcesService?>(nil)
    /// The sources service, which reports the engine's component errors as `system.error`.
    var sources: SourcesService? {
        get { sourcesService.withLock { $0 } }
        set { sourcesService.withLock { $0 = newValue } }
    }
    /// The fatal error that stopped the engine, if one did.
    var failure: SlothError? {
        get { value.withLock { $0.failure } }
        set { value.withLock { $0.failure = newValue } }
    }
}

/// Counts SIGINT/SIGTERM as they arrive, and keeps the one that cut the drain short.
private final class SignalCounter: Sendable {
    private let state = Mutex<(count: Int, first: Int32?, last: Int32?)>((0, nil, nil))
    func next(_ sig: Int32) -> Int {
        state.withLock {
            $0.count += 1
            if $0.first == nil { $0.first = sig }
            return $0.count
        }
    }
    /// The signal that began the shutdown (`system.shutdown`'s reason).
    var firstSignal: Int32? { state.withLock { $0.first } }
    var lastSignal: Int32? {
        get { state.withLock { $0.last } }
        set { state.withLock { $0.last = newValue } }
    }
}
