import Foundation
import PostgresNIO
import SlothRunner
import Synchronization

/// One writer transaction, shared by the jobs of a batch: runs statements on its connection and
/// collects what is written once at the end — journal entries (numbered under the journal lock,
/// so numbers follow commit order) and hook run counters (one update per hook per commit).
final class PGTransaction: PGExecutor {
    let connection: PostgresConnection

    struct JournalEntry {
        var eventID: String
        var status: String?
        var executionID: Int64?
        var type: String?
        var stack: String?
    }

    private struct Pending {
        var journal: [JournalEntry] = []
        var hookRuns: [String: (count: Int64, last: Int64)] = [:]
        var wrote = false
    }

    private let pending = Mutex(Pending())

    init(_ connection: PostgresConnection) {
        self.connection = connection
    }

    func rows(_ sql: String, _ args: [PGValue]) async throws -> [PGRow] {
        pending.withLock { $0.wrote = true }
        return try await connection.rows(sql, args)
    }

    func journal(_ eventID: String, status: String) {
        pending.withLock { $0.journal.append(JournalEntry(eventID: eventID, status: status)) }
    }

    func journalRun(_ eventID: String, execution: Int64) {
        pending.withLock { $0.journal.append(JournalEntry(eventID: eventID, executionID: execution)) }
    }

    func journalDeleted(_ eventID: String, type: String, stack: String?) {
        pending.withLock { $0.journal.append(JournalEntry(eventID: eventID, status: "deleted", type: type, stack: stack)) }
    }

    func countHookRun(_ hookID: String, at time: Int64) {
        pending.withLock { p in
            var runs = p.hookRuns[hookID, default: (0, 0)]
            runs.count += 1
            runs.last = max(runs.last, time)
            p.hookRuns[hookID] = runs
        }
    }

    /// Where the collected entries stand, to drop a failed job's entries with `rewind(to:)`.
    struct Mark { fileprivate var journal: Int; fileprivate var hookRuns: [String: (count: Int64, last: Int64)] }
    var mark: Mark { pending.withLock { Mark(journal: $0.journal.count, hookRuns: $0.hookRuns) } }
    func rewind(to mark: Mark) {
        pending.withLock { p in
            p.journal.removeSubrange(mark.journal...)
            p.hookRuns = mark.hookRuns
        }
    }

    /// Writes what the batch collected and wakes the other nodes' engines: called last, just
    /// before COMMIT, so the journal lock is held only from here to the commit.
    func finish() async throws {
        let p = pending.withLock { $0 }
        if !p.hookRuns.isEmpty {
            var set = PGRecordSet()
            for (id, runs) in p.hookRuns.sorted(by: { $0.key < $1.key }) {
                set.row(["id": .text(id), "n": .int(runs.count), "last": .int(runs.last)])
            }
            try await connection.rows(
                """
                UPDATE hooks h SET run_count = h.run_count + r.n, last_run = GREATEST(COALESCE(h.last_run, 0), r.last)
                FROM json_to_recordset($1::json) AS r(id text, n bigint, last bigint) WHERE h.id = r.id
                """, [.text(set.json)])
        }
        if !p.journal.isEmpty {
            try await connection.rows("SELECT pg_advisory_xact_lock($1)", [.int(PostgresSchema.journalLock)])
            let n = Int64(p.journal.count)
            guard let last = try await connection.rows("SELECT setval('changes_seq', nextval('changes_seq') + $1 - 1)", [.int(n)]).first?.int(0) else {
                throw SlothError.storage("PostgreSQL returned no journal number")
            }
            var seq = last - n + 1
            let now = nowMillis()
            var set = PGRecordSet()
            for j in p.journal {
                set.row([
                    "seq": .int(seq), "at": .int(now), "event_id": .text(j.eventID), "status": .text(j.status),
                    "execution_id": .int(j.executionID), "type": .text(j.type), "stack": .text(j.stack),
                ])
                seq += 1
            }
            try await connection.rows(
                """
                INSERT INTO changes (seq, at, event_id, status, execution_id, type, stack)
                SELECT seq, at, event_id, status, execution_id, type, stack
                FROM json_to_recordset($1::json) AS r(seq bigint, at bigint, event_id text, status text, execution_id bigint, type text, stack text)
                """, [.text(set.json)])
        }
        if p.wrote || !p.journal.isEmpty {
            // One notification per commit, however many events it holds (delivered at commit).
            try await connection.rows("SELECT pg_notify($1, '')", [.text(PostgresNotifications.channel)])
        }
    }
}
