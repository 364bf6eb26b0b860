import Foundation

/// The raw rate of SQLite batched inserts of what the engine writes per event — the event row in
/// its final state and one execution row — on this machine: the ceiling the engine is measured
/// against by `sloth-runner bench`.
public enum SQLiteBaseline {
    /// Inserts `rows` events, each with one execution, in transactions of `batch` into a fresh
    /// database at `path`; returns events per second.
    public static func insertRate(path: String, rows: Int, batch: Int = 1000, synchronous: SQLiteSynchronous) throws -> Double {
        let db = try SQLiteConnection(path: path)
        defer { db.close() }
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=\(synchronous.rawValue.uppercased())")
        try db.execute("PRAGMA foreign_keys=ON")
        try SQLiteEventStore.migrate(db)
        let hookID = UUID().uuidString.lowercased()
        let now0 = nowMillis()
        try db.run(
            """
            INSERT INTO hooks (id, name, event_type, file_path, created_at, updated_at, source, source_hash, timeout_ms,
                memory_limit_bytes, instruction_limit, max_attempts, retry_delay_ms)
            VALUES (?, 'baseline', 'bench.event', 'baseline.lua', ?, ?, '', '', 30000, 67108864, 1000000000, 3, 1000)
            """, [.text(hookID), .int(now0), .int(now0)])
        let data = JSONValue.object(["seq": .int(0), "payload": .string("benchmark")]).serialized()
        let start = monotonicSeconds()
        var done = 0
        while done < rows {
            try db.execute("BEGIN IMMEDIATE")
            for _ in 0..<min(batch, rows - done) {
                let now = nowMillis()
                let id = EventID.make(millis: now)
                try db.run(SQLiteEventStore.insertEventSQL) { b in
                    b.bind(1, id)
                    b.bind(2, "bench.event")
                    b.bind(3, data)
                    b.bind(4, "completed")
                    b.bind(5, nil as String?)
                    b.bind(6, now)
                    b.bind(7, now)
                    b.bind(8, now)
                    b.bind(9, nil as String?)
                    b.bind(10, Int64(1))
                    b.bind(11, now)
                    b.bind(12, nil as String?)
                    b.bind(13, nil as Int64?)
                    b.bind(14, nil as String?)
                    b.bind(15, Int64(0))
                }
                try db.run(SQLiteEventStore.insertExecutionSQL) { b in
                    b.bind(1, id)
                    b.bind(2, hookID)
                    b.bind(3, "baseline")
                    b.bind(4, Int64(1))
                    b.bind(5, "")
                    b.bind(6, nil as String?)
                    b.bind(7, Int64(0))
                    b.bind(8, now)
                    b.bind(9, Int64(1))
                    b.bind(10, Int64(12))
                    b.bind(11, Int64(4096))
                    b.bind(12, nil as String?)
                }
                done += 1
            }
            try db.execute("COMMIT")
        }
        return Double(rows) / (monotonicSeconds() - start)
    }
}
