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

    func run() async throws {
        try await runReporting {
            let log = Log(level: global.effectiveLogLevel)
            guard let syncMode = SQLiteSynchronous(rawValue: sync) else { throw SlothError.invalidInput("--sync must be normal or full") }
            var config = EngineConfiguration()
            config.workers = workers
            config.queueCapacity = queueSize
            if let nodeID { config.nodeID = nodeID }
            config.leaseMillis = Int64(try DurationText.parseSeconds(lease) * 1000)
            config.pollMillis = max(1, Int64(try DurationText.parseSeconds(poll) * 1000))
            config.maxChainDepth = maxChainDepth
            config.luaThreads = luaThreads
            config.strictPermissions = strictPermissions || ProcessInfo.processInfo.environment["SLOTH_RUNNER_STRICT_PERMISSIONS"] == "1"
            if let list = hookEnv ?? ProcessInfo.processInfo.environment["SLOTH_RUNNER_HOOK_ENV"] {
                config.hookEnvironment = Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            }
            let keepCompleted = try DurationText.parseSeconds(retainCompleted)
            let keepFailed = try DurationText.parseSeconds(retainFailed)
            config.retainCompletedMillis = keepCompleted > 0 ? Int64(keepCompleted * 1000) : nil
            config.retainFailedMillis = keepFailed > 0 ? Int64(keepFailed * 1000) : nil
            let graceSeconds = try DurationText.parseSeconds(grace)
            guard workers > 0, queueSize > 0 else { throw SlothError.invalidInput("--workers and --queue-size must be positive") }
            guard config.leaseMillis >= 1000 else { throw SlothError.invalidInput("--lease must be at least 1s") }

            ProcessStats.raiseOpenFileLimit()
            // The daemon's only children are hooks' commands: whatever one leaves behind, even
            // after killing its own supervisor, is adopted here and killed.
            ExecSupervision.adoptOrphans()
            let lock = DaemonLock(databasePath: global.databasePath)
            guard lock.tryAcquire() else {
                throw SlothError.conflict("another sloth-runner engine (pid \(lock.holderPID ?? "?")) is already serving \(global.databasePath)")
            }
            defer { lock.release() }
            let store = try global.openStore(synchronous: syncMode)
            config.secrets = SecretVault(store: store, databasePath: global.databasePath)
            let runtime = LuaRuntime(threads: luaThreads)
            let engine = Engine(store: store, runtime: runtime, configuration: config)
            try await engine.start()
            let signals = SignalWaiter([SIGINT, SIGTERM])
            log(.info, "serving \(global.databasePath) as \(engine.owner) (workers \(workers), queue \(queueSize)); pid \(getpid())")
            log(.debug, "database writer priority: \(WriterPriority.describe(store.writerNice))")
            let signal = await signals.next()
            log(.info, "received \(signal == SIGINT ? "SIGINT" : "SIGTERM"); draining for up to \(grace)")
            let report = await engine.drain(grace: graceSeconds)
            runtime.shutdown()
            await store.close()
            log(.info, report.finished ? "drained; \(report.released) queued event(s) handed back" : "grace period over; \(report.released) event(s) handed back for the next run")
        }
    }
}

/// Turns SIGINT/SIGTERM into an awaitable value instead of killing the process.
final class SignalWaiter {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>

    init(_ signals: [Int32]) {
        var continuation: AsyncStream<Int32>.Continuation!
        stream = AsyncStream { continuation = $0 }
        let cont = continuation!
        sources = signals.map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { cont.yield(sig) }
            source.resume()
            return source
        }
    }

    func next() async -> Int32 {
        for await s in stream { return s }
        return SIGTERM
    }
}
