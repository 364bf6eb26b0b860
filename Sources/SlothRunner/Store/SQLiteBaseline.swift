import Foundation

/// The raw rate of SQLite batched inserts of what the engine writes per event — the event row in
/// its final state and one execution row — on this machine: the ceiling the engine is measured
/// against by `sloth-runner bench`.
package enum SQLiteBaseline {
    /// Inserts `rows` events, each with one execution, in transactions of `batch` into a fresh
    /// database at `path`; returns events per second.
    package static func insertRate(path: String, rows: Int, batch: Int = 1000, synchronous: SQLiteSynchronous) throws -> Double {
        let db = try SQLiteConnection(path: path)
        defer { db.close() }
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=\(synchronous.rawValue.uppercased())")
        try db.execute("PRAGMA foreign_keys=ON")
        try SQLiteEventStore.migrate(db, path: path)
        let hookID = UUID().uuidString.lowercased()
        let now0 = nowMillis()
        try db.run(
            """
            INSERT INTO hooks (id, name, event_type, file_path, created_at, updated_at, source, source_hash, timeout_ms,
                memory_limit_bytes, instruction_limit, max_attempts, retry_delay_ms)
            VALUES (?, 'baseline', 'bench.event', 'baseline.lua', ?, ?, '', '', 30000, 67108864, 1000000000, 3, 1000)
            """, [.text(hookID), .int(now0), .int(now0)])
        let data = JSONValue.object(["seq": .int(0), "payload": .string("benchmark")])
        let encoded = data.serialized()
        let start = monotonicSeconds()
        var done = 0
        while done < rows {
            try db.execute("BEGIN IMMEDIATE")
            for _ in 0..<min(batch, rows - done) {
                // The rows the engine writes for an event whose one hook succeeded, through the
                // store's own insert code.
                let now = nowMillis()
                let event = Event(
                    id: EventID.make(millis: now), type: "bench.event", stack: nil, timestamp: now, data: data,
                    status: .completed, createdAt: now, processedAt: now, attempts: 1, nextRunAt: now, encodedData: encoded)
                try SQLiteEventStore.insert(event, on: db)
                try SQLiteEventStore.insert(
                    HookExecution(
                        eventID: event.id, hookID: hookID, hookName: "baseline", success: true, output: "", error: nil,
                        durationMillis: 0, executedAt: now, attempt: 1, usage: ResourceUsage(instructions: 12, peakMemoryBytes: 4096),
                        message: nil),
                    on: db)
                done += 1
            }
            try db.execute("COMMIT")
        }
        return Double(rows) / (monotonicSeconds() - start)
    }
}
