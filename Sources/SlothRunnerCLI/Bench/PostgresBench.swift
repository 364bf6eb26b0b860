import Foundation
import SlothRunner
import SlothRunnerPostgres
import Synchronization

/// `bench --db postgres://…`: the engine end to end on PostgreSQL with one node or several
/// (`--nodes N`: engines in this process, each with its own store — pool, writer, LISTEN — as
/// separate `serve` processes have; dispatchers spread over them), in a schema of its own that
/// is dropped after; then the raw rate of inserting the same rows in batches, for the ratio.
struct PostgresBench {
    let url: String
    let events: Int
    let hooks: Int
    let nodes: Int
    let concurrency: Int
    let rate: Double?
    let workers: Int
    let luaThreads: Int
    let json: Bool

    func run() async throws {
        let schema = "bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let location = try PostgresLocation(url: url + (url.contains("?") ? "&" : "?") + "schema=" + schema)
        var opened: [PostgresEventStore] = []
        for _ in 0..<nodes { opened.append(try await PostgresEventStore(location: location, maxConnections: 8)) }
        let stores = opened
        defer { for s in stores { s.closeNow() } }
        do {
            let result = try await measure(stores)
            let pickup = try await crossNodePickup(location: location)
            let raw = try await stores[0].rawInsertRate(rows: events, batch: 1000)
            try await stores[0].dropOwnSchema(schema)
            let lines: [(String, String)] = [
                ("events", "\(events) with \(hooks) hook(s) on \(nodes) node(s), \(concurrency) dispatchers, \(workers) workers each\(rate.map { ", offered \(Int($0))/s" } ?? "")"),
                ("database", location.serverDescription + " (schema \(schema), dropped after)"),
                ("end-to-end", String(format: "%.0f events/s (%.2f s)", result.eventsPerSecond, result.seconds)),
                ("dispatch latency", String(format: "p50 %.3f ms, p99 %.3f ms", result.dispatchP50 * 1000, result.dispatchP99 * 1000)),
                ("dispatch→hook start", String(format: "p50 %.3f ms, p99 %.3f ms", result.startP50 * 1000, result.startP99 * 1000)),
                ("CPU per event", String(format: "%.1f µs (this process; PostgreSQL's own not counted)", result.cpuPerEvent * 1e6)),
                ("writer transactions", "\(result.commits), \(String(format: "%.0f", Double(result.jobs) / Double(max(1, result.commits)))) jobs each on average, up to \(PostgresEventStore.writerPipelineDepth) in flight (SLOTH_RUNNER_PG_PIPELINE)"),
                ("cross-node pickup", String(format: "p50 %.1f ms, p99 %.1f ms, max %.1f ms (stored by another process's store, started on an idle node; %d events, one every 20 ms)", pickup.p50 * 1000, pickup.p99 * 1000, pickup.max * 1000, pickup.count)),
                ("raw PostgreSQL insert", String(format: "%.0f events/s (event + execution rows, batches of 1000, one connection, no engine)", raw)),
                ("engine / raw", String(format: "%.2f", result.eventsPerSecond / raw)),
            ]
            if json {
                printJSON(.object([
                    "events": .int(Int64(events)), "hooks": .int(Int64(hooks)), "nodes": .int(Int64(nodes)),
                    "events_per_second": .double(result.eventsPerSecond), "dispatch_p50_ms": .double(result.dispatchP50 * 1000),
                    "dispatch_p99_ms": .double(result.dispatchP99 * 1000), "start_p50_ms": .double(result.startP50 * 1000),
                    "start_p99_ms": .double(result.startP99 * 1000), "raw_postgres_events_per_second": .double(raw),
                    "ratio": .double(result.eventsPerSecond / raw), "cpu_us_per_event": .double(result.cpuPerEvent * 1e6),
                    "pickup_p50_ms": .double(pickup.p50 * 1000), "pickup_p99_ms": .double(pickup.p99 * 1000), "pickup_max_ms": .double(pickup.max * 1000),
                ]))
            } else {
                for (k, v) in lines { print(k.padding(toLength: 22, withPad: " ", startingAt: 0) + v) }
            }
        } catch {
            try? await stores[0].dropOwnSchema(schema)
            throw error
        }
    }

    struct Result {
        var eventsPerSecond: Double, seconds: Double
        var dispatchP50: Double, dispatchP99: Double, startP50: Double, startP99: Double
        var cpuPerEvent: Double
        var commits: Int, jobs: Int
    }

    func measure(_ stores: [PostgresEventStore]) async throws -> Result {
        let runtime = LuaRuntime(threads: luaThreads)
        defer { runtime.shutdown() }
        for i in 0..<hooks {
            let source = "return { name = \"bench_\(i)\", event_type = \"bench.event\", execute = function(e) return true end }"
            let loaded = try await HookLoader.load(source: source, filePath: "bench_\(i).lua", overrides: HookOverrides(), runtime: runtime)
            try await stores[0].addHook(loaded.hook)
        }
        let recorder = BenchCommand.Recorder(target: events)
        var engines: [Engine] = []
        for (i, store) in stores.enumerated() {
            var config = EngineConfiguration()
            config.workers = workers
            config.nodeID = "bench-\(i)"
            config.observer = { obs in
                switch obs {
                case .hookStarted(let id, let at): recorder.starts.withLock { $0.append((id, at)) }
                case .eventRecorded(_, let status):
                    guard status == .completed else { return }
                    if recorder.finished.add(1, ordering: .relaxed).newValue == recorder.target {
                        recorder.lastFinish.withLock { $0 = monotonicSeconds() }
                        recorder.done.continuation.yield()
                    }
                case .outcomeWriteFailed, .outcomesRecovered: break
                }
            }
            let engine = Engine(driver: store, runtime: runtime, configuration: config)
            try await engine.start()
            engines.append(engine)
        }
        let stats0 = stores.map(\.writerStats)
        let cpu0 = ProcessStats.cpuSeconds()
        let t0 = monotonicSeconds()
        let parts = await BenchCommand.offerLoad(to: engines, events: events, concurrency: concurrency, rate: rate, from: t0)
        for await _ in recorder.done.stream { break }
        let elapsed = recorder.lastFinish.withLock { $0 } - t0
        let cpu = ProcessStats.cpuSeconds() - cpu0
        let stats = zip(stores.map(\.writerStats), stats0).map { ($0.commits - $1.commits, $0.jobs - $1.jobs) }
        for engine in engines { _ = await engine.drain(grace: 10) }
        let (latencies, delays) = BenchCommand.delays(parts, starts: recorder.starts.withLock { $0 })
        let pct = BenchCommand.percentile
        return Result(
            eventsPerSecond: Double(events) / elapsed, seconds: elapsed, dispatchP50: pct(latencies, 0.5), dispatchP99: pct(latencies, 0.99),
            startP50: pct(delays, 0.5), startP99: pct(delays, 0.99), cpuPerEvent: cpu / Double(events),
            commits: stats.reduce(0) { $0 + $1.0 }, jobs: stats.reduce(0) { $0 + $1.1 })
    }

    /// How soon an idle node starts an event another store wrote: one store inserts events
    /// (as `events dispatch` from another machine would), an idle engine on a second store is
    /// woken by NOTIFY and claims them; from commit to hook start.
    func crossNodePickup(location: PostgresLocation) async throws -> (p50: Double, p99: Double, max: Double, count: Int) {
        let writer = try await PostgresEventStore(location: location)
        let reader = try await PostgresEventStore(location: location)
        defer { writer.closeNow(); reader.closeNow() }
        let runtime = LuaRuntime(threads: 1)
        defer { runtime.shutdown() }
        let starts = Mutex<[String: Double]>([:])
        var config = EngineConfiguration()
        config.nodeID = "pickup"
        config.observer = { obs in
            if case .hookStarted(let id, let at) = obs { starts.withLock { $0[id] = $0[id] ?? at } }
        }
        let engine = Engine(driver: reader, runtime: runtime, configuration: config)
        try await engine.start()
        let count = 200
        var committed: [(String, Double)] = []
        for _ in 0..<count {
            let e = Engine.pendingEvent(from: NewEvent(type: "bench.event", data: .object([:])))
            try await writer.insertEvents([e])
            committed.append((e.id, monotonicSeconds()))
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let deadline = monotonicSeconds() + 10
        while starts.withLock({ $0.count }) < count && monotonicSeconds() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        _ = await engine.drain(grace: 5)
        let seen = starts.withLock { $0 }
        let delays = committed.compactMap { id, at in seen[id].map { max(0, $0 - at) } }.sorted()
        return (BenchCommand.percentile(delays, 0.5), BenchCommand.percentile(delays, 0.99), delays.last ?? 0, delays.count)
    }
}
