import Foundation
import SlothRunner

/// The event history in PostgreSQL: finding, listing, counting and deleting events, their runs and
/// dead letters; deletes go in batches through the writer, so a dispatch waits for one batch at most.
extension PostgresEventStore: EventHistoryStore, HistoryQueryStore {
    public func resolveEvent(_ idOrPrefix: String) async throws -> Event {
        let needle = try EventPrefix.needle(idOrPrefix)
        let matches = try await pool.query(
            "SELECT \(Self.eventSelect) FROM events WHERE id >= $1 AND id < $1 || 'g' ORDER BY id LIMIT 6",
            [.text(needle)], Self.event(from:))
        return try EventPrefix.pick(matches, needle: needle, asked: idOrPrefix)
    }

    public func listEvents(_ f: EventFilter) async throws -> [Event] {
        let (whereSQL, args) = Self.filterClause(f)
        return try await pool.query(
            "SELECT \(Self.eventSelect) FROM events \(whereSQL) ORDER BY id DESC LIMIT $\(args.count + 1)", args + [.int(f.limit)], Self.event(from:))
    }

    package func countEvents(_ f: EventFilter, cap: Int) async throws -> Int {
        let (whereSQL, args) = Self.filterClause(f)
        return Int(try await pool.scalarInt("SELECT count(*) FROM (SELECT 1 FROM events \(whereSQL) LIMIT $\(args.count + 1)) t", args + [.int(cap)]) ?? 0)
    }

    private static func filterClause(_ f: EventFilter) -> (String, [PGValue]) {
        var clauses: [String] = []
        var args: [PGValue] = []
        func add(_ clause: String, _ value: PGValue) {
            args.append(value)
            clauses.append(clause.replacingOccurrences(of: "?", with: "$\(args.count)"))
        }
        if let t = f.type { add("type = ?", .text(t)) }
        if let s = f.status { add("status = ?", .text(s.rawValue)) }
        if let s = f.stack { add("stack = ?", .text(s)) }
        if let s = f.since { add("id >= ?", .text(EventID.lowerBound(millis: s))) }
        if let u = f.until { add("id < ?", .text(EventID.lowerBound(millis: u))) }
        if let b = f.before { add("id < ?", .text(b)) }
        if let r = f.replayOf { add("replay_of = ?", .text(r)) }
        return (clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "), args)
    }

    public func executions(eventID: String) async throws -> [HookExecution] {
        try await pool.query("SELECT \(Self.executionColumns) FROM event_hook_executions WHERE event_id = $1 ORDER BY id", [.text(eventID)], Self.execution(from:))
    }

    public func deadLetters(eventID: String) async throws -> [DeadLetter] {
        try await pool.query(
            "SELECT event_id, hook_id, hook_name, attempts, last_error, updated_at FROM hook_attempts WHERE event_id = $1 AND dead ORDER BY hook_name",
            [.text(eventID)]
        ) { DeadLetter(eventID: $0.textValue(0), hookID: $0.textValue(1), hookName: $0.textValue(2), attempts: Int($0.intValue(3)), lastError: $0.text(4), deadAt: $0.intValue(5)) }
    }

    public func deleteEvent(id: String) async throws {
        try await write { tx in
            guard let row = try await tx.rows("DELETE FROM events WHERE id = $1 RETURNING type, stack", [.text(id)]).first else {
                throw SlothError.notFound("no event with id \(id)")
            }
            tx.journalDeleted(id, type: row.textValue(0), stack: row.text(1))
        }
    }

    package func childEvents(of eventID: String, limit: Int) async throws -> [Event] {
        try await pool.query("SELECT \(Self.eventSelect) FROM events WHERE parent_id = $1 ORDER BY id LIMIT $2", [.text(eventID), .int(limit)], Self.event(from:))
    }

    package func activity(since: Millis, bucketMillis: Int64) async throws -> [(start: Millis, total: Int, failed: Int)] {
        try await pool.query(
            """
            SELECT (created_at / $1) * $1 AS b, COUNT(*), COUNT(*) FILTER (WHERE status = 'failed') FROM events
            WHERE id >= $2 GROUP BY b ORDER BY b
            """, [.int(bucketMillis), .text(EventID.lowerBound(millis: since))]
        ) { (start: $0.intValue(0), total: Int($0.intValue(1)), failed: Int($0.intValue(2))) }
    }

    /// Events deleted per writer job, as in the SQLite store: a dispatch queued behind a
    /// cleanup waits for one batch, not all of it.
    static let deleteBatch = 500

    private static func cleanupStatuses(_ status: EventStatus?) -> [String] {
        status.map { [$0.rawValue] } ?? [EventStatus.completed.rawValue, EventStatus.failed.rawValue]
    }

    public func deleteEvents(olderThan cutoff: Millis, status: EventStatus?) async throws -> Int {
        var total = 0
        for s in Self.cleanupStatuses(status) {
            while true {
                let n = try await write { tx in
                    try await tx.run(
                        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE status = $1 AND created_at < $2 LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING 1",
                        [.text(s), .int(cutoff), .int(Self.deleteBatch)])
                }
                total += n
                if n < Self.deleteBatch { break }
            }
        }
        return total
    }

    package func countEvents(olderThan cutoff: Millis, status: EventStatus?) async throws -> Int {
        var n: Int64 = 0
        for s in Self.cleanupStatuses(status) {
            n += try await pool.scalarInt("SELECT count(*) FROM events WHERE status = $1 AND created_at < $2", [.text(s), .int(cutoff)]) ?? 0
        }
        return Int(n)
    }

    public func countEvents(status: EventStatus?) async throws -> Int {
        if let status {
            return Int(try await pool.scalarInt("SELECT count(*) FROM events WHERE status = $1", [.text(status.rawValue)]) ?? 0)
        }
        return Int(try await pool.scalarInt("SELECT count(*) FROM events") ?? 0)
    }

    package func countDeadLetters() async throws -> Int {
        Int(try await pool.scalarInt("SELECT count(*) FROM hook_attempts WHERE dead") ?? 0)
    }
}
