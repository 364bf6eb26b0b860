/// The event history in SQLite: finding, listing, counting and deleting events, their runs and
/// dead letters; deletes go in small batches so a running engine is not held up.
extension SQLiteEventStore: EventHistoryStore, HistoryQueryStore {
    public func resolveEvent(_ idOrPrefix: String) async throws -> Event {
        let needle = try EventPrefix.needle(idOrPrefix)
        let matches = try await reader.perform { db in
            try db.query(
                "SELECT \(SQLiteEventStore.eventColumns) FROM events WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 6",
                [.text(needle)], SQLiteEventStore.event(from:))
        }
        return try EventPrefix.pick(matches, needle: needle, asked: idOrPrefix)
    }

    public func listEvents(_ f: EventFilter) async throws -> [Event] {
        let (whereSQL, args) = Self.filterClause(f)
        let query = "SELECT \(SQLiteEventStore.eventColumns) FROM events \(whereSQL) ORDER BY id DESC LIMIT ?"
        let bound = args + [.int(Int64(f.limit))]
        return try await reader.perform { db in try db.query(query, bound, SQLiteEventStore.event(from:)) }
    }

    /// How many events match `f`, counting at most `cap` (a listing says "showing 50 of 111",
    /// or "of more than 10000", without counting millions of rows to say it).
    package func countEvents(_ f: EventFilter, cap: Int) async throws -> Int {
        let (whereSQL, args) = Self.filterClause(f)
        let query = "SELECT count(*) FROM (SELECT 1 FROM events \(whereSQL) LIMIT ?)"
        let bound = args + [.int(Int64(cap))]
        return try await reader.perform { db in Int(try db.scalarInt(query, bound) ?? 0) }
    }

    /// A listing's condition. Event ids begin with their creation time (see `EventID`), so
    /// `since` is a range of ids: each listing reads one index in its own order.
    private static func filterClause(_ f: EventFilter) -> (String, [SQLValue]) {
        var clauses: [String] = []
        var args: [SQLValue] = []
        if let t = f.type { clauses.append("type = ?"); args.append(.text(t)) }
        if let s = f.status { clauses.append("status = ?"); args.append(.text(s.rawValue)) }
        if let s = f.stack { clauses.append("stack = ?"); args.append(.text(s)) }
        if let s = f.since { clauses.append("id >= ?"); args.append(.text(EventID.lowerBound(millis: s))) }
        if let u = f.until { clauses.append("id < ?"); args.append(.text(EventID.lowerBound(millis: u))) }
        if let b = f.before { clauses.append("id < ?"); args.append(.text(b)) }
        if let r = f.replayOf { clauses.append("replay_of = ?"); args.append(.text(r)) }
        return (clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "), args)
    }

    public func executions(eventID: String) async throws -> [HookExecution] {
        try await reader.perform { db in
            try db.query(
                "SELECT \(SQLiteEventStore.executionColumns) FROM event_hook_executions WHERE event_id = ? ORDER BY id",
                [.text(eventID)], SQLiteEventStore.execution(from:))
        }
    }

    public func deadLetters(eventID: String) async throws -> [DeadLetter] {
        try await reader.perform { db in
            try db.query(
                "SELECT event_id, hook_id, hook_name, attempts, last_error, updated_at FROM hook_attempts WHERE event_id = ? AND dead = 1 ORDER BY hook_name",
                [.text(eventID)]
            ) { DeadLetter(eventID: $0.textValue(0), hookID: $0.textValue(1), hookName: $0.textValue(2), attempts: Int($0.intValue(3)), lastError: $0.text(4), deadAt: $0.intValue(5)) }
        }
    }

    public func deleteEvent(id: String) async throws {
        try await writer.perform { db in
            // Journaled one by one only: a retention sweep of a million events must not write a
            // million journal rows; a deletion one by one is news to a live view.
            let journaled = try db.run(
                """
                INSERT INTO changes (at, event_id, status, type, stack)
                SELECT ?, id, 'deleted', type, stack FROM events WHERE id = ?
                """, [.int(nowMillis()), .text(id)])
            guard journaled == 1, try db.run("DELETE FROM events WHERE id = ?", [.text(id)]) == 1 else {
                throw SlothError.notFound("no event with id \(id)")
            }
        }
    }

    package func childEvents(of eventID: String, limit: Int) async throws -> [Event] {
        try await reader.perform { db in
            try db.query(
                "SELECT \(Self.eventColumns) FROM events WHERE parent_id = ? ORDER BY id LIMIT ?", [.text(eventID), .int(Int64(limit))],
                Self.event(from:))
        }
    }

    package func activity(since: Millis, bucketMillis: Int64) async throws -> [(start: Millis, total: Int, failed: Int)] {
        try await reader.perform { db in
            // By id range (ids are time-ordered), so only the window's rows are read.
            try db.query(
                """
                SELECT (created_at / ?1) * ?1 AS b, COUNT(*), SUM(status = 'failed') FROM events
                WHERE id >= ?2 GROUP BY b ORDER BY b
                """, [.int(bucketMillis), .text(EventID.lowerBound(millis: since))]
            ) { (start: $0.intValue(0), total: Int($0.intValue(1)), failed: Int($0.intValue(2))) }
        }
    }

    /// Events (with their executions) deleted per writer job: a dispatch queued behind a
    /// cleanup waits for one batch, not for all of it (a few ms here, executions included).
    package static let deleteBatch = 200

    public func deleteEvents(olderThan cutoff: Millis, status: EventStatus?) async throws -> Int {
        var total = 0
        let statuses = Self.cleanupStatuses(status)
        for s in statuses {
            while true {
                let n = try await writer.perform { db in
                    try db.run(
                        "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE status = ? AND created_at < ? LIMIT ?)",
                        [.text(s), .int(cutoff), .int(Int64(Self.deleteBatch))])
                }
                total += n
                if n < Self.deleteBatch { break }
            }
        }
        if total > 0 { try await reclaimSpace() }
        return total
    }

    /// The statuses a cleanup deletes: the one named, else the finished ones — events still in
    /// flight are never cleaned up from under a worker.
    private static func cleanupStatuses(_ status: EventStatus?) -> [String] {
        status.map { [$0.rawValue] } ?? [EventStatus.completed.rawValue, EventStatus.failed.rawValue]
    }

    /// What `deleteEvents` would delete.
    package func countEvents(olderThan cutoff: Millis, status: EventStatus?) async throws -> Int {
        let statuses = Self.cleanupStatuses(status)
        return try await reader.perform { db in
            var n: Int64 = 0
            for s in statuses { n += try db.scalarInt("SELECT count(*) FROM events WHERE status = ? AND created_at < ?", [.text(s), .int(cutoff)]) ?? 0 }
            return Int(n)
        }
    }

    package func countDeadLetters() async throws -> Int {
        try await reader.perform { db in Int(try db.scalarInt("SELECT count(*) FROM hook_attempts WHERE dead = 1") ?? 0) }
    }

    public func countEvents(status: EventStatus?) async throws -> Int {
        try await reader.perform { db in
            if let status {
                return Int(try db.scalarInt("SELECT count(*) FROM events WHERE status = ?", [.text(status.rawValue)]) ?? 0)
            }
            return Int(try db.scalarInt("SELECT count(*) FROM events") ?? 0)
        }
    }
}
