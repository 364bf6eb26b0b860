import ArgumentParser
import Dispatch
import Foundation
import SlothRunner

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the engine as a daemon: claim events, run hooks, recover leases.",
        discussion: """
            Events dispatched by other processes (the CLI) are picked up within a poll interval.
            SIGINT or SIGTERM stop intake, let running hooks finish for --grace, and hand back
            anything unfinished: nothing accepted is lost.

            Examples:
              sloth-runner serve
              sloth-runner serve --workers 200 --queue-size 5000 --grace 60s --sync full
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Events processed at once.") var workers = 100
    @Option(help: "Claimed events held in memory for the workers.") var queueSize = 1000
    @Option(help: "Name of this node in leases (default: host name).") var nodeID: String?
    @Option(help: "Lease length of a claim, e.g. 30s.") var lease = "30s"
    @Option(help: "How long running hooks may finish after SIGTERM, e.g. 30s.") var grace = "30s"
    @Option(help: "How often to look for events from other processes, e.g. 20ms.") var poll = "20ms"
    @Option(help: "SQLite durability: normal (survives a crash) or full (also a power loss).") var sync = "normal"
    @Option(help: "Longest chain of events dispatched by hooks.") var maxChainDepth = 8
    @Option(help: "Lua executor threads (default: one per core).") var luaThreads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Keep completed events this long, e.g. 168h; 0 keeps them forever.") var retainCompleted = "168h"
    @Option(help: "Keep failed events this long, e.g. 720h; 0 keeps them forever.") var retainFailed = "720h"
    @Flag(help: "Deny hooks every capability (exec, http, file, secrets, env) they do not declare in `permissions`.")
    var strictPermissions = false
    @Option(help: "Comma-separated environment variables hooks may read with env.get (default: all; or $SLOTH_RUNNER_HOOK_ENV).")
    var hookEnv: String?
    @Option(help: "Most events one hook run may dispatch.") var maxDispatchesPerRun = 1000
    @Option(help: "Largest event data accepted, in bytes.") var maxDataBytes = NewEvent.defaultMaxDataBytes
    @Option(help: "Output (print and log) kept per hook run, in bytes.") var maxOutputBytes = 64 * 1024

    enum Happening: Sendable {
        case signal(Int32)
        case fatal(SlothError)
    }

    func run() async throws {
        try await runReporting {
            let log = Log(level: global.effectiveLogLevel)
            guard let syncMode = SQLiteSynchronous(rawValue: sync) else { throw SlothError.invalidInput("--sync must be normal or full, not '\(sync)'") }
            var config = EngineConfiguration()
            config.workers = workers
            config.queueCapacity = queueSize
            if let nodeID {
                guard !nodeID.isEmpty, !nodeID.contains("/") else { throw SlothError.invalidInput("--node-id must be a non-empty name without '/'") }
                config.nodeID = nodeID
            }
            config.leaseMillis = try DurationText.millis(lease, for: "--lease", in: 1...86_400)
            config.pollMillis = try DurationText.millis(poll, for: "--poll", in: 0.001...3600)
            config.maxChainDepth = maxChainDepth
            config.maxDispatchesPerRun = maxDispatchesPerRun
            config.maxDataBytes = maxDataBytes
            config.maxOutputBytes = maxOutputBytes
            config.luaThreads = luaThreads
            config.strictPermissions = strictPermissions || ProcessInfo.processInfo.environment["SLOTH_RUNNER_STRICT_PERMISSIONS"] == "1"
            if let list = hookEnv ?? ProcessInfo.processInfo.environment["SLOTH_RUNNER_HOOK_ENV"] {
                config.hookEnvironment = Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            }
            let keepCompleted = try DurationText.millis(retainCompleted, for: "--retain-completed")
            let keepFailed = try DurationText.millis(retainFailed, for: "--retain-failed")
            config.retainCompletedMillis = keepCompleted > 0 ? keepCompleted : nil
            config.retainFailedMillis = keepFailed > 0 ? keepFailed : nil
            let graceSeconds = try DurationText.seconds(grace, for: "--grace", in: 0...86_400)
            // Every setting is checked before anything is opened or started (5,000 Lua threads
            // are refused, not started).
            try config.validate()

            ProcessStats.raiseOpenFileLimit()
            let lock = try DaemonLock(databasePath: global.databasePath)
            guard try lock.tryAcquire() else {
                throw SlothError.conflict("another sloth-runner engine (pid \(lock.holderPID ?? "?")) is already serving \(lock.databaseFile)")
            }
            defer { lock.release() }
            let happenings = Inbox<Happening>()
            let signals = SignalWaiter([SIGINT, SIGTERM]) { happenings.push(.signal($0)) }
            defer { withExtendedLifetime(signals) {} }
            config.onFatal = { happenings.push(.fatal($0)) }
            // The daemon's only children are hooks' commands: whatever one leaves behind, even
            // after killing its own supervisor, is adopted here and killed.
            ExecSupervision.adoptOrphans()
            let store = try global.openStore(synchronous: syncMode)
            config.secrets = SecretVault(store: store, databasePath: global.databasePath)
            let runtime = LuaRuntime(threads: luaThreads) { stuck in
                log(.error, "a Lua thread was stuck in \(stuck.call ?? "a library call") running hook \(stuck.hookName ?? "(loading a hook file)") past its deadline: it was replaced and left at idle priority (\(stuck.threadsLeftBehind) so far); \(stuck.otherRuns) other run(s) on it failed and will be retried")
            }
            let engine = Engine(store: store, runtime: runtime, configuration: config)
            try await engine.start()
            log(.info, "serving \(global.databasePath) as \(engine.owner) (workers \(workers), queue \(queueSize)); pid \(getpid())")
            log(.debug, "database writer priority: \(WriterPriority.describe(store.writerNice))")
            var exitStatus: Int32 = 0
            var fatal: SlothError?
            switch await happenings.next() {
            case .signal(let sig):
                log(.info, "received \(SignalWaiter.name(sig)); draining for up to \(grace) (send it again to stop at once)")
            case .fatal(let error):
                fatal = error
                log(.error, "\(error.description); stopping")
            }
            // A second signal cuts the drain short: what still runs is handed back at once.
            let impatience = Task {
                while true {
                    if case .signal(let sig) = await happenings.next() {
                        log(.warn, "received \(SignalWaiter.name(sig)) again; stopping now, handing back what still runs")
                        engine.stopWaiting()
                        return sig
                    }
                }
            }
            let report = await engine.drain(grace: fatal == nil ? graceSeconds : min(graceSeconds, 5))
            runtime.shutdown()
            await store.close()
            log(.info, report.finished ? "drained; \(report.released) queued event(s) handed back" : "grace period over; \(report.released) event(s) handed back for the next run")
            if report.cutShort {
                impatience.cancel()
                exitStatus = SignalWaiter.exitStatus(await impatience.value)
            } else {
                impatience.cancel()
            }
            if let fatal { throw fatal }
            if exitStatus != 0 { throw ExitCode(exitStatus) }
        }
    }
}
