import ArgumentParser
import Foundation
import SlothRunner
import SlothRunnerPostgres
import Synchronization

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the engine end to end on a temporary database.",
        discussion: """
            Dispatches N events through the real engine (group commit, claims, Lua hooks, recorded
            outcomes) with K trivial hooks, then measures raw SQLite batched inserts of the same rows
            for comparison. Build with -c release for meaningful numbers.

            Examples:
              sloth-runner bench --events 100000 --hooks 1
              sloth-runner bench --events 20000 --hooks 1 --sync full
              sloth-runner bench --events 5000 --hooks 1 --rate 1000
              sloth-runner bench --waiting --events 10000
              sloth-runner bench --waiting --wait-http --events 10000
              sloth-runner bench --waiting --wait-https --events 10000
              sloth-runner bench --exec --events 5000
              sloth-runner bench --store-size 2000000
              sloth-runner bench --db postgres://postgres@/postgres?host=/tmp/sloth-runner-pg/socket --events 60000 --hooks 1 --nodes 3
              sloth-runner bench --http-url http://127.0.0.1:7077/api/v1/events --rate 1000 --body '{"type":"custom.x"}'
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Events to dispatch.") var events = 20_000
    @Option(help: "Trivial hooks matching every event.") var hooks = 1
    @Option(help: "Concurrent dispatchers; each waits for its event to be committed before sending the next.") var concurrency = 512
    @Option(help: "SQLite durability: normal or full.") var sync = "normal"
    @Option(help: "Offered load in events/s (default: as fast as possible).") var rate: Double?
    @Option(help: "Engine workers (default: one per dispatcher, at least the engine's 100).") var workers: Int?

    /// Every dispatcher's event can be in a worker at once, so none waits for a slot.
    var engineWorkers: Int { workers ?? max(100, concurrency) }
    @Option(help: "Lua executor threads (default: one per core).") var luaThreads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Measure only the Lua runtime: N runs of a trivial hook, no store.") var luaOnly = false
    @Flag(help: "Measure waiting: N events whose hook each sleeps --wait-seconds; reports wall time, OS threads and RSS.") var waiting = false
    @Option(help: "How long each hook waits with --waiting.") var waitSeconds = 1.0
    @Flag(help: "With --waiting: each hook does http.get to a loopback server (started as a child process) that answers after --wait-seconds.") var waitHTTP = false
    @Flag(help: "With --waiting: the same over HTTPS, the server's certificate from a test CA the hook trusts with ca_file.") var waitHTTPS = false
    @Option(help: "With --waiting: each hook does http.get(URL) instead of sleeping; URL should answer after --wait-seconds.") var waitURL: String?
    @Option(help: "Fill a store with this many events (and executions), time every listing and inspection, and dispatch latency during a large cleanup.") var storeSize: Int?
    @Option(help: "Measure latency at a fixed load against a running serve: --rate requests/s (default 1000) to this http:// URL on keep-alive connections, each timed from when it was due.") var httpURL: String?
    @Option(help: "With --http-url: seconds to run.") var seconds = 10.0
    @Option(help: "With --http-url: keep-alive connections.") var connections = 16
    @Option(help: "With --http-url: a JSON body to POST (default: GET).") var body = ""
    @Flag(help: "Measure exec: --events runs of a hook doing exec.run({\"true\"}), 16 at a time (or --concurrency); runs/s and latency.") var exec = false
    @Option(help: "With --db postgres://…: engines (nodes) sharing the database, each with its own store.") var nodes = 1
    @Option(help: "Gate every bench hook with storm control that lets each event through, to measure its cost: throttle, concurrency, rate_limit or circuit_breaker (each event its own group).") var storm: String?

    /// The bench hooks' storm-control field for `--storm`: one group per event (`data.seq`),
    /// so every run is admitted and the cost measured is the gate's store round trips.
    static func stormField(_ storm: String?) throws(SlothError) -> String {
        switch storm {
        case nil: return ""
        case "throttle": return #"throttle = { once_within = "1h", group_by = {"data.seq"} },"#
        case "concurrency": return #"concurrency = { limit = 1, group_by = {"data.seq"} },"#
        case "rate_limit": return #"rate_limit = { rate = "1000/s", group_by = {"data.seq"} },"#
        case "circuit_breaker": return #"circuit_breaker = { failures = 5, within = "1m", open_for = "5m" },"#
        default: throw .invalidInput("--storm must be throttle, concurrency, rate_limit or circuit_breaker, not '\(storm!)'")
        }
    }

    func run() async throws {
        if let httpURL {
            try await HTTPLatencyBench.run(url: httpURL, rate: rate ?? 1000, seconds: seconds, connections: connections, body: body, json: global.json)
            return
        }
        if let db = global.db, PostgresLocation.isPostgresURL(db) {
            try await runReporting {
                guard events > 0, hooks >= 0, concurrency > 0, (1...16).contains(nodes) else {
                    throw SlothError.invalidInput("--events and --concurrency must be positive, --nodes from 1 to 16")
                }
                try await PostgresBench(
                    url: db, events: events, hooks: hooks, nodes: nodes, concurrency: concurrency, rate: rate, workers: engineWorkers,
                    luaThreads: luaThreads, json: global.json
                ).run()
            }
            return
        }
        try await runReporting {
            guard let syncMode = SQLiteSynchronous(rawValue: sync) else { throw SlothError.invalidInput("--sync must be normal or full") }
            guard events > 0, hooks >= 0, concurrency > 0 else { throw SlothError.invalidInput("--events and --concurrency must be positive") }
            let dir = NSTemporaryDirectory() + "sloth-bench-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }

            if luaOnly {
                try await measureLua()
                return
            }
            if exec {
                try await measureExec()
                return
            }
            if let storeSize {
                guard storeSize >= 100 else { throw SlothError.invalidInput("--store-size must be at least 100") }
                try await StoreSizeBench.run(size: storeSize, dir: dir, json: global.json)
                return
            }
            if waiting {
                try await measureWaiting(dir: dir, syncMode: syncMode)
                return
            }
            let result = try await measureEngine(dir: dir, syncMode: syncMode)
            let raw = try SQLiteBaseline.insertRate(path: dir + "/raw.db", rows: events, synchronous: syncMode)
            let ratio = result.eventsPerSecond / raw
            let lines: [(String, String)] = [
                ("events", "\(events) with \(hooks) hook(s), \(concurrency) dispatchers, \(engineWorkers) workers, \(luaThreads) Lua thread(s), synchronous=\(sync)\(rate.map { ", offered \(Int($0))/s" } ?? "")"),
                ("end-to-end", String(format: "%.0f events/s (%.2f s)", result.eventsPerSecond, result.seconds)),
                ("dispatch latency", String(format: "p50 %.3f ms, p99 %.3f ms", result.dispatchP50 * 1000, result.dispatchP99 * 1000)),
                ("dispatch→hook start", String(format: "p50 %.3f ms, p99 %.3f ms", result.startP50 * 1000, result.startP99 * 1000)),
                ("CPU per event", String(format: "%.1f µs (all threads, user + system)", result.cpuPerEvent * 1e6)),
                ("  by thread", result.cpuPerThread.prefix(6).map { String(format: "%@ %.1f", $0.0, $0.1 * 1e6) }.joined(separator: ", ")),
                ("idle RSS", Format.bytes(result.idleRSS)),
                ("peak RSS", Format.bytes(result.peakRSS)),
                ("writer transactions", String(format: "%d, %.0f jobs each on average; in a transaction %.0f%% of the run", result.writer.transactions, Double(result.writer.jobs) / Double(max(1, result.writer.transactions)), result.writer.busySeconds / result.seconds * 100)),
                ("writer priority", WriterPriority.describe(result.writerNice)),
                ("outcome in insert", String(format: "%.0f%% of claimed events written once; %.0f%% of events claimed at dispatch", result.fusedShare * 100, result.claimedShare * 100)),
                ("raw SQLite insert", String(format: "%.0f events/s (event + execution rows, batches of 1000, no engine)", raw)),
                ("engine / raw", String(format: "%.2f", ratio)),
            ]
            if global.json {
                printJSON(.object([
                    "events": .int(Int64(events)), "hooks": .int(Int64(hooks)), "concurrency": .int(Int64(concurrency)), "sync": .string(sync),
                    "events_per_second": .double(result.eventsPerSecond), "dispatch_p50_ms": .double(result.dispatchP50 * 1000),
                    "dispatch_p99_ms": .double(result.dispatchP99 * 1000), "start_p50_ms": .double(result.startP50 * 1000),
                    "start_p99_ms": .double(result.startP99 * 1000), "idle_rss_bytes": .int(Int64(result.idleRSS)),
                    "peak_rss_bytes": .int(Int64(result.peakRSS)), "raw_sqlite_events_per_second": .double(raw), "ratio": .double(ratio),
                    "fused_share": .double(result.fusedShare), "cpu_us_per_event": .double(result.cpuPerEvent * 1e6),
                    "writer_transactions": .int(Int64(result.writer.transactions)), "writer_jobs": .int(Int64(result.writer.jobs)),
                    "writer_busy_seconds": .double(result.writer.busySeconds), "writer_nice": .int(Int64(result.writerNice)),
                ]))
            } else {
                for (k, v) in lines { print(k.padding(toLength: 22, withPad: " ", startingAt: 0) + v) }
            }
        }
    }

    /// Dispatches `events` through `engines` (dispatcher t on engine t mod count) from
    /// `concurrency` dispatchers, each waiting for its event's commit, at `rate` events/s if
    /// given; returns each dispatcher's (event id, dispatch start, dispatch latency).
    static func offerLoad(
        to engines: [Engine], events: Int, concurrency: Int, rate: Double?, from t0: Double
    ) async -> [[(String, Double, Double)]] {
        let interval = rate.map { Double(concurrency) / $0 }
        return await withTaskGroup(of: [(String, Double, Double)].self) { group in
            for t in 0..<concurrency {
                let count = events / concurrency + (t < events % concurrency ? 1 : 0)
                let engine = engines[t % engines.count]
                group.addTask {
                    var out: [(String, Double, Double)] = []
                    out.reserveCapacity(count)
                    for i in 0..<count {
                        if let interval {
                            let due = t0 + Double(i) * interval + Double(t) * interval / Double(concurrency)
                            let wait = due - monotonicSeconds()
                            if wait > 0 { try? await Task.sleep(nanoseconds: UInt64(wait * 1e9)) }
                        }
                        let start = monotonicSeconds()
                        // `seq` is unique over the whole run (`--storm` groups by it).
                        guard let e = try? await engine.dispatch(NewEvent(type: "bench.event", data: .object(["seq": .int(Int64(i * concurrency + t)), "payload": .string("benchmark")]))) else { continue }
                        out.append((e.id, start, monotonicSeconds() - start))
                    }
                    return out
                }
            }
            // Kept in parts: joining them here would copy every sample while events still run.
            var parts: [[(String, Double, Double)]] = []
            for await part in group { parts.append(part) }
            return parts
        }
    }

    /// Sorted dispatch latencies, and sorted delays from dispatch to each event's first hook start.
    static func delays(_ parts: [[(String, Double, Double)]], starts recorded: [(String, Double)]) -> (dispatch: [Double], start: [Double]) {
        let samples = parts.joined()
        var starts: [String: Double] = [:]
        for (id, at) in recorded where starts[id] == nil { starts[id] = at }
        return (samples.map(\.2).sorted(), samples.compactMap { s in starts[s.0].map { max(0, $0 - s.1) } }.sorted())
    }

    /// The `p` quantile of sorted values (0 when there are none).
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
    }

    struct Result {
        var eventsPerSecond: Double
        var seconds: Double
        var dispatchP50: Double
        var dispatchP99: Double
        var startP50: Double
        var startP99: Double
        var idleRSS: Int
        var peakRSS: Int
        /// The writer's transactions during the run.
        var writer: SQLiteWriterStats
        /// Share of claimed inserts that carried their outcome (one write instead of two).
        var fusedShare: Double
        /// Share of events handed to a worker at dispatch (the rest waited in the store).
        var claimedShare: Double
        /// Process CPU time (user + system, all threads) per event while the engine ran.
        var cpuPerEvent: Double
        /// The same by thread name (`sloth-db-writer`, `sloth-lua-N`, the concurrency pool, ...).
        var cpuPerThread: [(String, Double)]
        /// The writer thread's nice value as it took effect.
        var writerNice: Int32
    }

    final class Recorder: Sendable {
        /// (event id, hook start) as reported, in order; matched to dispatches after the run so
        /// the measurement adds no hashing to the hot path.
        let starts = Mutex<[(String, Double)]>([])
        let finished = Atomic<Int>(0)
        let lastFinish = Mutex<Double>(0)
        let done = AsyncStream<Void>.makeStream()
        let target: Int
        init(target: Int) { self.target = target }
    }

    func measureWaiting(dir: String, syncMode: SQLiteSynchronous) async throws {
        var waitURL = self.waitURL
        var server: Process?
        defer { server?.terminate() }
        var caOption = ""
        if waitHTTP || waitHTTPS {
            let tlsDir = waitHTTPS ? dir + "/test-ca" : nil
            let (process, url) = try startSlowServer(tlsDir: tlsDir)
            server = process
            waitURL = url
            if let tlsDir { caOption = ", ca_file = '\(tlsDir)/ca.pem'" }
        }
        let store = try SQLiteEventStore(path: dir + "/bench.db", synchronous: syncMode)
        let runtime = LuaRuntime(threads: luaThreads)
        defer { runtime.shutdown() }
        ProcessStats.raiseOpenFileLimit()
        let wait = waitURL.map { "local r = require('http').get('\($0)', { timeout = 60\(caOption) }) if r.status_code ~= 200 then error(r.status_code) end" } ?? "sleep(\(waitSeconds))"
        let source = "return { name = \"waiter\", event_type = \"bench.wait\", timeout = 120, execute = function(e) \(wait) return true end }"
        let loaded = try await HookLoader.load(source: source, filePath: "\(dir)/waiter.lua", overrides: HookOverrides(), runtime: runtime)
        try await store.addHook(loaded.hook)
        let recorder = Recorder(target: events)
        var config = EngineConfiguration()
        config.workers = events
        config.queueCapacity = events
        let lastStart = Mutex<Double>(0)
        config.observer = { obs in
            switch obs {
            case .hookStarted(_, let at):
                lastStart.withLock { $0 = max($0, at) }
            case .eventRecorded(_, .completed):
                if recorder.finished.add(1, ordering: .relaxed).newValue == recorder.target {
                    recorder.lastFinish.withLock { $0 = monotonicSeconds() }
                    recorder.done.continuation.yield()
                }
            default: break
            }
        }
        let engine = Engine(store: store, runtime: runtime, configuration: config)
        try await engine.start()
        let peakThreads = Mutex<Int>(0)
        let sampler = Task {
            while !Task.isCancelled {
                let n = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
                peakThreads.withLock { $0 = max($0, n) }
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        let t0 = monotonicSeconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<concurrency {
                group.addTask {
                    var i = t
                    while i < events {
                        _ = try await engine.dispatch(NewEvent(type: "bench.wait", data: .object(["i": .int(Int64(i))])))
                        i += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
        for await _ in recorder.done.stream { break }
        let wall = recorder.lastFinish.withLock { $0 } - t0
        sampler.cancel()
        let rss = ProcessStats.peakResidentBytes()
        _ = await engine.drain(grace: 10)
        await store.close()
        let threads = peakThreads.withLock { $0 }
        if global.json {
            printJSON(.object(["events": .int(Int64(events)), "wait_seconds": .double(waitSeconds), "wall_seconds": .double(wall), "last_start_seconds": .double(lastStart.withLock { $0 } - t0), "peak_threads": .int(Int64(threads)), "peak_rss_bytes": .int(Int64(rss))]))
        } else {
            print(waitURL.map { "waiting               \(events) events, each hook doing http.get(\($0))" } ?? String(format: "waiting               %d events, each hook sleeping %.1f s", events, waitSeconds))
            print(String(format: "wall time             %.2f s (last hook started after %.2f s)", wall, lastStart.withLock { $0 } - t0))
            print("peak OS threads       \(threads)")
            print("peak RSS              \(Format.bytes(rss))")
        }
    }

    /// Starts `sloth-runner slow-http-server` as a child and returns it with its URL: the load
    /// server runs in its own process so its sockets and thread are not counted as ours.
    func startSlowServer(tlsDir: String? = nil) throws -> (Process, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        process.arguments = ["slow-http-server", "--delay", String(waitSeconds), "--exit-when-stdin-closes"] + (tlsDir.map { ["--tls-dir", $0] } ?? [])
        process.standardInput = Pipe()
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var line = [UInt8]()
        while true {
            let byte = pipe.fileHandleForReading.readData(ofLength: 1)
            guard let b = byte.first else { break }
            if b == 10 { break }
            line.append(b)
        }
        let url = String(decoding: line, as: UTF8.self)
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            process.terminate()
            throw SlothError.runtime("the bench's HTTP server did not start (printed '\(url)')")
        }
        return (process, url)
    }

    /// Hooks each running one command (`true`) under its supervisor, `concurrency` at a time
    /// (16 unless given): the cost of a process per call, from spawn to reaped.
    func measureExec() async throws {
        let runtime = LuaRuntime(threads: luaThreads)
        defer { runtime.shutdown() }
        let parallel = concurrency == 512 ? 16 : concurrency
        let source = "local exec = require('exec') return { name = 'bench', event_type = 'bench.exec', execute = function() local r = exec.run({'true'}) return r.exit_code == 0 end }"
        let request = HookRunRequest(
            hookID: "h", hookName: "bench", source: source, sourceHash: "bench-exec", chunkName: "bench.lua", event: .value(.object([:])),
            eventStack: nil, chainDepth: 0, limits: HookLimits(), dispatcher: nil)
        let t0 = monotonicSeconds()
        let latencies = await withTaskGroup(of: ([Double], Int).self) { group in
            for t in 0..<parallel {
                let count = events / parallel + (t < events % parallel ? 1 : 0)
                group.addTask {
                    var samples: [Double] = []
                    var failed = 0
                    samples.reserveCapacity(count)
                    for _ in 0..<count {
                        let start = monotonicSeconds()
                        if !(await runtime.run(request)).success { failed += 1 }
                        samples.append(monotonicSeconds() - start)
                    }
                    return (samples, failed)
                }
            }
            var all: [Double] = []
            var failed = 0
            for await (s, f) in group {
                all += s
                failed += f
            }
            return (all.sorted(), failed)
        }
        let elapsed = monotonicSeconds() - t0
        let sorted = latencies.0
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        if global.json {
            printJSON(.object(["runs": .int(Int64(events)), "concurrent": .int(Int64(parallel)), "runs_per_second": .double(Double(events) / elapsed),
                               "p50_ms": .double(pct(0.5) * 1000), "p99_ms": .double(pct(0.99) * 1000), "max_ms": .double((sorted.last ?? 0) * 1000), "failed": .int(Int64(latencies.1))]))
        } else {
            print(String(format: "exec                  %.0f runs/s of exec.run({\"true\"}) (%d runs, %d concurrent, %.2f s, %d failed)", Double(events) / elapsed, events, parallel, elapsed, latencies.1))
            print(String(format: "latency per run       p50 %.2f ms, p99 %.2f ms, max %.2f ms", pct(0.5) * 1000, pct(0.99) * 1000, (sorted.last ?? 0) * 1000))
        }
    }

    func measureLua() async throws {
        let runtime = LuaRuntime(threads: luaThreads)
        defer { runtime.shutdown() }
        let source = "return { name = \"bench\", event_type = \"bench.event\", execute = function(e) return true end }"
        let event = HookRunEvent.event(HookEventView(Engine.pendingEvent(from: NewEvent(type: "bench.event", data: .object(["seq": .int(1), "payload": .string("benchmark")]))), attempt: 1))
        let request = HookRunRequest(
            hookID: "h", hookName: "bench", source: source, sourceHash: "bench", chunkName: "bench.lua", event: event,
            eventStack: nil, chainDepth: 0, limits: HookLimits(), dispatcher: nil)
        let t0 = monotonicSeconds()
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<concurrency {
                let count = events / concurrency + (t < events % concurrency ? 1 : 0)
                group.addTask { for _ in 0..<count { _ = await runtime.run(request) } }
            }
        }
        let elapsed = monotonicSeconds() - t0
        print(String(format: "lua runtime           %.0f hook runs/s (%d runs, %d concurrent, %.2f s)", Double(events) / elapsed, events, concurrency, elapsed))
    }

    func measureEngine(dir: String, syncMode: SQLiteSynchronous) async throws -> Result {
        let store = try SQLiteEventStore(path: dir + "/bench.db", synchronous: syncMode)
        let runtime = LuaRuntime(threads: luaThreads)
        defer { runtime.shutdown() }
        for i in 0..<hooks {
            let source = "return { name = \"bench_\(i)\", event_type = \"bench.event\", \(try Self.stormField(storm)) execute = function(e) return true end }"
            let loaded = try await HookLoader.load(source: source, filePath: "\(dir)/bench_\(i).lua", overrides: HookOverrides(), runtime: runtime)
            try await store.addHook(loaded.hook)
        }
        let recorder = Recorder(target: events)
        recorder.starts.withLock { $0.reserveCapacity(events) }
        var config = EngineConfiguration()
        config.workers = engineWorkers
        config.observer = { obs in
            switch obs {
            case .hookStarted(let id, let at):
                recorder.starts.withLock { $0.append((id, at)) }
            case .eventRecorded(_, let status):
                guard status == .completed else { return }
                let n = recorder.finished.add(1, ordering: .relaxed).newValue
                if n == recorder.target {
                    recorder.lastFinish.withLock { $0 = monotonicSeconds() }
                    recorder.done.continuation.yield()
                }
            case .outcomeWriteFailed, .outcomesRecovered:
                break
            }
        }
        let engine = Engine(store: store, runtime: runtime, configuration: config)
        try await engine.start()
        let idleRSS = ProcessStats.residentBytes()

        let cpu0 = ProcessStats.cpuSeconds()
        let writer0 = store.writerStats
        let threads0 = ProcessStats.cpuByThread()
        let t0 = monotonicSeconds()
        let parts = await Self.offerLoad(to: [engine], events: events, concurrency: concurrency, rate: rate, from: t0)
        for await _ in recorder.done.stream { break }
        let fusion = store.fusion.snapshot
        let writerStats = store.writerStats - writer0
        let cpuUsed = ProcessStats.cpuSeconds() - cpu0
        let perThread = ProcessStats.cpuByThread().map { name, seconds in (name, (seconds - (threads0[name] ?? 0)) / Double(events)) }
            .filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
        let elapsed = recorder.lastFinish.withLock { $0 } - t0
        let peak = ProcessStats.peakResidentBytes()
        _ = await engine.drain(grace: 10)
        await store.close()

        let (latencies, startDelays) = Self.delays(parts, starts: recorder.starts.withLock { $0 })
        let pct = Self.percentile
        return Result(
            eventsPerSecond: Double(events) / elapsed, seconds: elapsed, dispatchP50: pct(latencies, 0.5), dispatchP99: pct(latencies, 0.99),
            startP50: pct(startDelays, 0.5), startP99: pct(startDelays, 0.99), idleRSS: idleRSS, peakRSS: peak,
            writer: writerStats,
            fusedShare: Double(fusion.fused) / Double(max(1, fusion.fused + fusion.plain)),
            claimedShare: Double(fusion.fused + fusion.plain) / Double(events),
            cpuPerEvent: cpuUsed / Double(events),
            cpuPerThread: perThread, writerNice: store.writerNice)
    }
}

enum ProcessStats {
    static func statusField(_ name: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }
    static func residentBytes() -> Int { statusField("VmRSS") }

    /// CPU seconds per thread name (threads sharing a name are summed), from /proc/self/task.
    static func cpuByThread() -> [String: Double] {
        var out: [String: Double] = [:]
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? [] {
            guard let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            let name = String(stat[stat.index(after: open)..<close])
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            out[name, default: 0] += (user + system) / ticks
        }
        return out
    }

    /// User plus system CPU time of the whole process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Raises the soft open-files limit to the hard one: thousands of hooks waiting on HTTP
    /// hold thousands of sockets.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    static func peakResidentBytes() -> Int { statusField("VmHWM") }
}
