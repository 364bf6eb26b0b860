import CSQLite
import Foundation
import SlothRunner
import Synchronization

/// `bench --store-size N`: fills a store with N finished events (a hook execution each, over
/// eight types and four stacks, spread over the last 30 days), then times every listing and
/// inspection the CLI does, and the dispatch latency while a cleanup deletes half the store.
enum StoreSizeBench {
    static func run(size: Int, dir: String, json: Bool) async throws {
        let path = dir + "/store.db"
        var store = try SQLiteEventStore(path: path)
        let runtime = LuaRuntime(threads: 1)
        defer { runtime.shutdown() }
        let hook = try await HookLoader.load(
            source: "return { name = 'big', event_type = 'bench.*', execute = function() return true end }", filePath: "big.lua",
            overrides: HookOverrides(), runtime: runtime)
        try await store.addHook(hook.hook)
        await store.close()
        let fillStart = monotonicSeconds()
        try fill(path: path, size: size, hookID: hook.hook.id)
        let fillSeconds = monotonicSeconds() - fillStart
        store = try SQLiteEventStore(path: path)
        let now = nowMillis()
        let sample = try await store.listEvents(EventFilter(limit: 1)).first?.id ?? ""
        var timings: [(String, Double)] = []
        func time(_ name: String, _ work: () async throws -> Void) async throws {
            try await work()  // warm the page cache as a second call would find it
            var best = Double.infinity
            for _ in 0..<3 {
                let t = monotonicSeconds()
                try await work()
                best = min(best, monotonicSeconds() - t)
            }
            timings.append((name, best))
        }
        try await time("events list") { _ = try await store.listEvents(EventFilter(limit: 50)) }
        try await time("events list --type bench.t3") { _ = try await store.listEvents(EventFilter(type: "bench.t3", limit: 50)) }
        try await time("events list --stack s2") { _ = try await store.listEvents(EventFilter(stack: "s2", limit: 50)) }
        try await time("events list --status failed") { _ = try await store.listEvents(EventFilter(status: .failed, limit: 50)) }
        try await time("events list --since 1h") { _ = try await store.listEvents(EventFilter(since: now - 3_600_000, limit: 50)) }
        try await time("events list --type --since 24h") { _ = try await store.listEvents(EventFilter(type: "bench.t1", since: now - 86_400_000, limit: 50)) }
        try await time("  count for 'showing 50 of N'") { _ = try await store.countEvents(EventFilter(type: "bench.t3", limit: 50), cap: 10_000) }
        try await time("events show PREFIX") {
            let e = try await store.resolveEvent(String(sample.prefix(13)))
            _ = try await store.executions(eventID: e.id)
        }
        try await time("hook get (statistics)") { _ = try await store.hookStats(hookID: hook.hook.id) }
        try await time("hook history --limit 20") { _ = try await store.hookHistory(hookID: hook.hook.id, limit: 21, failedOnly: false) }
        try await time("hook history --failed") { _ = try await store.hookHistory(hookID: hook.hook.id, limit: 21, failedOnly: true) }

        // Dispatches at ~200/s while a cleanup deletes the older half of the store.
        var config = EngineConfiguration()
        config.retainCompletedMillis = nil
        config.retainFailedMillis = nil
        let engine = Engine(store: store, runtime: runtime, configuration: config)
        try await engine.start()
        let latencies = Mutex<[Double]>([])
        let cleanupDone = Atomic<Bool>(false)
        let dispatcher = Task {
            while !cleanupDone.load(ordering: .acquiring) {
                let t = monotonicSeconds()
                _ = try? await engine.dispatch(NewEvent(type: "bench.live"))
                let took = monotonicSeconds() - t
                latencies.withLock { $0.append(took) }
                try? await Task.sleep(nanoseconds: 5_000_000)
            }
        }
        let cleanupStart = monotonicSeconds()
        let deleted = try await store.deleteEvents(olderThan: now - 15 * 86_400_000, status: .completed)
        let cleanupSeconds = monotonicSeconds() - cleanupStart
        cleanupDone.store(true, ordering: .releasing)
        await dispatcher.value
        // Throughput on the large store (its remaining half) and on an empty one, same hook.
        let onLarge = try await throughput(engine: engine, events: 20_000)
        _ = await engine.drain(grace: 5)
        await store.close()
        let emptyStore = try SQLiteEventStore(path: dir + "/empty.db")
        try await emptyStore.addHook(hook.hook)
        let emptyEngine = Engine(store: emptyStore, runtime: runtime, configuration: config)
        try await emptyEngine.start()
        let onEmpty = try await throughput(engine: emptyEngine, events: 20_000)
        _ = await emptyEngine.drain(grace: 5)
        await emptyStore.close()
        let sorted = latencies.withLock { $0 }.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }

        if json {
            printJSON(.object([
                "events": .int(Int64(size)), "fill_seconds": .double(fillSeconds),
                "timings_ms": .object(Dictionary(uniqueKeysWithValues: timings.map { ($0.0, JSONValue.double($0.1 * 1000)) })),
                "cleanup_deleted": .int(Int64(deleted)), "cleanup_seconds": .double(cleanupSeconds),
                "dispatches_during_cleanup": .int(Int64(sorted.count)), "dispatch_p99_ms": .double(pct(0.99) * 1000),
                "dispatch_max_ms": .double((sorted.last ?? 0) * 1000),
                "events_per_second_large": .double(onLarge), "events_per_second_empty": .double(onEmpty),
            ]))
            return
        }
        print(String(format: "store                 %d events with an execution each (filled in %.1f s)", size, fillSeconds))
        for (name, seconds) in timings {
            print("  " + name.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%8.2f ms", seconds * 1000))
        }
        print(String(format: "cleanup               %d events deleted in %.1f s; %d dispatches meanwhile, p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                     deleted, cleanupSeconds, sorted.count, pct(0.5) * 1000, pct(0.99) * 1000, (sorted.last ?? 0) * 1000))
        print(String(format: "end-to-end            %.0f events/s on the large store, %.0f on an empty one (%.0f %%)", onLarge, onEmpty, onLarge / onEmpty * 100))
    }

    /// Events per second through the engine, 256 dispatchers each waiting for its commit.
    static func throughput(engine: Engine, events: Int) async throws -> Double {
        let start = monotonicSeconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<256 {
                group.addTask {
                    var i = t
                    while i < events {
                        _ = try await engine.dispatch(NewEvent(type: "bench.throughput"))
                        i += 256
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(events) / (monotonicSeconds() - start)
    }

    /// N events and executions in one statement each (a recursive CTE), in id order.
    static func fill(path: String, size: Int, hookID: String) throws {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw SlothError.storage("cannot open \(path)") }
        defer { sqlite3_close(db) }
        let now = nowMillis()
        let span: Int64 = 30 * 86_400_000
        let sql = """
            PRAGMA synchronous=OFF;
            BEGIN;
            WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < \(size - 1))
            INSERT INTO events (id, type, data, status, error, timestamp, created_at, processed_at, stack, attempts, next_run_at)
            SELECT printf('%08x-%04x-7%03x-8%03x-%012x', ts >> 16, ts & 65535, x & 4095, (x >> 12) & 4095, x),
                   'bench.t' || (x % 8), '{"seq":' || x || '}', CASE WHEN x % 50 = 0 THEN 'failed' ELSE 'completed' END,
                   CASE WHEN x % 50 = 0 THEN 'boom' END, ts, ts, ts + 3, 's' || (x % 4), 1, ts
            FROM (SELECT x, \(now - span) + x * \(span) / \(size) AS ts FROM n);
            INSERT INTO event_hook_executions (event_id, hook_id, hook_name, success, output, error, duration_ms, executed_at, attempt)
            SELECT id, '\(hookID)', 'big', status = 'completed', '', error, 2, created_at + 1, 1 FROM events ORDER BY id;
            COMMIT;
            PRAGMA wal_checkpoint(TRUNCATE);
            """
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &error) == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? "unknown"
            sqlite3_free(error)
            throw SlothError.storage("filling the bench store failed: \(message)")
        }
    }
}
