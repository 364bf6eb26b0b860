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
                try db.run(
                    "INSERT INTO events (\(SQLiteEventStore.eventColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [.text(EventID.make(millis: now)), .text("bench.event"), .text(data), .text("pending"), .null, .int(now), .int(now),
                     .null, .null, .int(0), .int(now), .null, .null, .null, .int(0)])
                done += 1
            }
            try db.execute("COMMIT")
        }
        return Double(rows) / (monotonicSeconds() - start)
    }
}
