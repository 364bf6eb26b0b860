import Foundation

/// The raw rate of SQLite batched inserts of event rows on this machine: the ceiling the engine
/// is measured against by `sloth-runner bench`.
public enum SQLiteBaseline {
    /// Inserts `rows` event rows in transactions of `batch` into a fresh database at `path`;
    /// returns rows per second.
    public static func insertRate(path: String, rows: Int, batch: Int = 1000, synchronous: SQLiteSynchronous) throws -> Double {
        let db = try SQLiteConnection(path: path)
        defer { db.close() }
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=\(synchronous.rawValue.uppercased())")
        try db.execute("PRAGMA foreign_keys=ON")
        try SQLiteEventStore.migrate(db)
        let data = JSONValue.object(["seq": .int(0), "payload": .string("benchmark")]).serialized()
        let start = monotonicSeconds()
        var done = 0
        while done < rows {
            try db.execute("BEGIN IMMEDIATE")
            for _ in 0..<min(batch, rows - done) {
                let now = nowMillis()
                try db.run(SQLiteEventStore.insertEventSQL) { b in
                    b.bind(1, EventID.make(millis: now))
                    b.bind(2, "bench.event")
                    b.bind(3, data)
                    b.bind(4, "pending")
                    b.bind(5, nil as String?)
                    b.bind(6, now)
                    b.bind(7, now)
                    b.bind(8, nil as Int64?)
                    b.bind(9, nil as String?)
                    b.bind(10, Int64(0))
                    b.bind(11, now)
                    b.bind(12, nil as String?)
                    b.bind(13, nil as Int64?)
                    b.bind(14, nil as String?)
                    b.bind(15, Int64(0))
                }
                done += 1
            }
            try db.execute("COMMIT")
        }
        return Double(rows) / (monotonicSeconds() - start)
    }
}
