import Foundation
import SlothRunner

/// The hot path's statements for a whole batch at once: every dispatched event in one insert,
/// every outcome in one compare-and-set update, their executions and retry state in one
/// statement each. Each returns the completions to call after COMMIT.
enum PostgresBulkWrites {
    static let eventRecordColumns =
        "id text, type text, data jsonb, status text, error text, timestamp bigint, created_at bigint, processed_at bigint, stack text, attempts int, next_run_at bigint, lease_owner text, lease_expires_at bigint, parent_id text, chain_depth int, replay_of text, replay text, needs_tags jsonb"

    /// An event as a record-set row; with `outcome`, in the state that outcome leaves it.
    static func addEvent(_ e: Event, finishedAs outcome: EventOutcome?, to set: inout PGRecordSet) {
        set.row([
            "id": .text(e.id), "type": .text(e.type), "data": .json(e.encodedData ?? e.data.serialized()),
            "status": .text((outcome?.status ?? e.status).rawValue), "error": .text(outcome.map(\.error) ?? e.error),
            "timestamp": .int(e.timestamp), "created_at": .int(e.createdAt), "processed_at": .int(outcome.map(\.processedAt) ?? e.processedAt),
            "stack": .text(e.stack), "attempts": .int(Int64(e.attempts)), "next_run_at": .int(outcome?.nextRunAt ?? e.nextRunAt),
            "lease_owner": .text(outcome == nil ? e.leaseOwner : nil), "lease_expires_at": .int(outcome == nil ? e.leaseExpiresAt : nil),
            "parent_id": .text(e.parentID), "chain_depth": .int(Int64(e.chainDepth)),
            "replay_of": .text(e.replay?.of), "replay": .text(e.replay?.stored),
            "needs_tags": .json(outcome?.needsTags.flatMap(Hook.storedTags) ?? "null"),
        ])
    }

    static func insertEvents(_ set: PGRecordSet, on tx: PGTransaction) async throws {
        try await tx.run(
            """
            INSERT INTO events (\(PostgresEventStore.eventColumns), needs_tags)
            SELECT \(PostgresEventStore.eventColumns), needs_tags FROM json_to_recordset($1::json) AS r(\(eventRecordColumns))
            """, [.text(set.json)])
    }

    static func inserts(_ batch: [PostgresWriter.Job], _ tx: PGTransaction) async throws -> [@Sendable () -> Void] {
        var jobs: [(events: [Event], slot: OutcomeSlot?, done: @Sendable (Result<Void, any Error>) -> Void)] = []
        for job in batch { if case .insert(let events, let slot, let done) = job { jobs.append((events, slot, done)) } }
        guard !jobs.isEmpty else { return [] }
        // Outcomes are taken from their slots once: the transaction may run again (a deadlock),
        // and a slot hands the same outcome back then.
        var set = PGRecordSet()
        var fused: [EventOutcome] = []
        var statuses: [(String, String)] = []
        for job in jobs {
            if let slot = job.slot, let event = job.events.first {
                let outcome = slot.takeForInsert()
                addEvent(event, finishedAs: outcome, to: &set)
                statuses.append((event.id, (outcome?.status ?? event.status).rawValue))
                if let outcome { fused.append(outcome) }
            } else {
                for e in job.events {
                    addEvent(e, finishedAs: nil, to: &set)
                    statuses.append((e.id, e.status.rawValue))
                }
            }
        }
        if set.count > 0 {
            if jobs.count == 1 {
                try await insertEvents(set, on: tx)
            } else {
                // One statement for all; should it fail (an id stored twice), each job on its own,
                // so only the offending one fails.
                try await tx.run("SAVEPOINT inserts")
                do {
                    try await insertEvents(set, on: tx)
                    try await tx.run("RELEASE SAVEPOINT inserts")
                } catch {
                    guard PostgresErrors.sqlState(error) != nil, !PostgresWriter.endsTransaction(error) else { throw error }
                    try await tx.run("ROLLBACK TO SAVEPOINT inserts")
                    return try await insertOneByOne(jobs, tx)
                }
            }
        }
        for (id, status) in statuses { tx.journal(id, status: status) }
        try await writeEffects(of: fused, tx)
        return jobs.map { job in { job.done(.success(())) } }
    }

    private static func insertOneByOne(
        _ jobs: [(events: [Event], slot: OutcomeSlot?, done: @Sendable (Result<Void, any Error>) -> Void)], _ tx: PGTransaction
    ) async throws -> [@Sendable () -> Void] {
        var completions: [@Sendable () -> Void] = []
        for job in jobs {
            var set = PGRecordSet()
            var outcome: EventOutcome?
            if let slot = job.slot, let event = job.events.first {
                outcome = slot.takeForInsert()
                addEvent(event, finishedAs: outcome, to: &set)
            } else {
                for e in job.events { addEvent(e, finishedAs: nil, to: &set) }
            }
            try await tx.run("SAVEPOINT insert")
            do {
                try await insertEvents(set, on: tx)
                try await tx.run("RELEASE SAVEPOINT insert")
            } catch {
                guard PostgresErrors.sqlState(error) != nil, !PostgresWriter.endsTransaction(error) else { throw error }
                try await tx.run("ROLLBACK TO SAVEPOINT insert")
                let reported = PostgresWriter.reportable(error)
                let done = job.done
                completions.append { done(.failure(reported)) }
                continue
            }
            if job.slot != nil, let e = job.events.first {
                tx.journal(e.id, status: (outcome?.status ?? e.status).rawValue)
            } else {
                for e in job.events { tx.journal(e.id, status: e.status.rawValue) }
            }
            if let outcome { try await writeEffects(of: [outcome], tx) }
            let done = job.done
            completions.append { done(.success(())) }
        }
        return completions
    }

    static func outcomes(_ batch: [PostgresWriter.Job], _ tx: PGTransaction) async throws -> [@Sendable () -> Void] {
        var jobs: [(outcomes: [EventOutcome], done: @Sendable (Result<[OutcomeWrite], any Error>) -> Void)] = []
        for job in batch { if case .outcomes(let list, let done) = job { jobs.append((list, done)) } }
        guard !jobs.isEmpty else { return [] }
        let all = jobs.flatMap(\.outcomes)
        // In rounds of distinct events: an update joined to two rows for one event would apply
        // only one of them, arbitrarily.
        var recorded = Set<ObjectIdentifier>()
        var remaining = all
        while !remaining.isEmpty {
            var seen = Set<String>()
            var round: [EventOutcome] = []
            var later: [EventOutcome] = []
            for o in remaining {
                if seen.insert(o.eventID).inserted { round.append(o) } else { later.append(o) }
            }
            remaining = later
            // Sorted by id, so two nodes' updates lock rows in the same order (no deadlock).
            round.sort { $0.eventID < $1.eventID }
            var set = PGRecordSet()
            for o in round {
                set.row([
                    "id": .text(o.eventID), "owner": .text(o.leaseOwner), "attempt": .int(Int64(o.claimAttempt)),
                    "status": .text(o.status.rawValue), "error": .text(o.error), "processed_at": .int(o.processedAt), "next_run_at": .int(o.nextRunAt),
                    "needs_tags": .json(o.needsTags.flatMap(Hook.storedTags) ?? "null"),
                ])
            }
            let ids = Set(try await tx.query(
                """
                UPDATE events e SET status = r.status, error = r.error, processed_at = r.processed_at, next_run_at = r.next_run_at,
                    lease_owner = NULL, lease_expires_at = NULL, needs_tags = r.needs_tags
                FROM json_to_recordset($1::json) AS r(id text, owner text, attempt int, status text, error text, processed_at bigint, next_run_at bigint, needs_tags jsonb)
                WHERE e.id = r.id AND e.lease_owner = r.owner AND e.attempts = r.attempt
                RETURNING e.id
                """, [.text(set.json)]) { $0.textValue(0) })
            var written: [EventOutcome] = []
            for o in round where ids.contains(o.eventID) {
                recorded.insert(ObjectIdentifier(o))
                tx.journal(o.eventID, status: o.status.rawValue)
                written.append(o)
            }
            try await writeEffects(of: written, tx)
        }
        return jobs.map { job in
            let results: [OutcomeWrite] = job.outcomes.map { recorded.contains(ObjectIdentifier($0)) ? .recorded : .superseded }
            let done = job.done
            return { done(.success(results)) }
        }
    }

    /// The executions, retry state and hook counters of outcomes that were written. Rows of
    /// hooks removed meanwhile are left out (their history went with them), and a second
    /// success of a hook for one event is dropped by the one-success index.
    static func writeEffects(of outcomes: [EventOutcome], _ tx: PGTransaction) async throws {
        var runs = PGRecordSet()
        for o in outcomes {
            for x in o.executions {
                runs.row([
                    "event_id": .text(x.eventID), "hook_id": .text(x.hookID), "hook_name": .text(x.hookName), "success": .bool(x.success),
                    "output": .text(x.output), "error": .text(x.error), "duration_ms": .int(x.durationMillis), "executed_at": .int(x.executedAt),
                    "attempt": .int(Int64(x.attempt)), "instructions": .int(x.usage.instructions),
                    "peak_memory_bytes": .int(Int64(x.usage.peakMemoryBytes)), "message": .text(x.message), "ord": .int(Int64(runs.count)),
                ])
            }
        }
        if runs.count > 0 {
            let inserted = try await tx.query(
                """
                INSERT INTO event_hook_executions (event_id, hook_id, hook_name, success, output, error, duration_ms, executed_at, attempt, instructions, peak_memory_bytes, message)
                SELECT r.event_id, r.hook_id, r.hook_name, r.success, r.output, r.error, r.duration_ms, r.executed_at, r.attempt, r.instructions, r.peak_memory_bytes, r.message
                FROM json_to_recordset($1::json) AS r(event_id text, hook_id text, hook_name text, success boolean, output text, error text,
                    duration_ms bigint, executed_at bigint, attempt int, instructions bigint, peak_memory_bytes bigint, message text, ord bigint)
                WHERE EXISTS (SELECT 1 FROM hooks h WHERE h.id = r.hook_id)
                ORDER BY r.ord
                ON CONFLICT DO NOTHING
                RETURNING id, event_id, hook_id, executed_at
                """, [.text(runs.json)]) { ($0.intValue(0), $0.textValue(1), $0.textValue(2), $0.intValue(3)) }
            for (id, event, hook, at) in inserted.sorted(by: { $0.0 < $1.0 }) {
                tx.journalRun(event, execution: id)
                tx.countHookRun(hook, at: at)
            }
        }
        var attempts: [String: (String, HookAttemptUpdate)] = [:]
        var order: [String] = []
        for o in outcomes {
            for u in o.attemptUpdates {
                let key = o.eventID + "\u{1}" + u.hookID
                if attempts[key] == nil { order.append(key) }
                attempts[key] = (o.eventID, u)
            }
        }
        if !attempts.isEmpty {
            var set = PGRecordSet()
            let now = nowMillis()
            for key in order.sorted() {
                guard let (event, u) = attempts[key] else { continue }
                set.row([
                    "event_id": .text(event), "hook_id": .text(u.hookID), "hook_name": .text(u.hookName), "attempts": .int(Int64(u.attempts)),
                    "dead": .bool(u.dead), "last_error": .text(u.lastError), "updated_at": .int(now),
                ])
            }
            try await tx.run(
                """
                INSERT INTO hook_attempts (event_id, hook_id, hook_name, attempts, dead, last_error, updated_at)
                SELECT r.event_id, r.hook_id, r.hook_name, r.attempts, r.dead, r.last_error, r.updated_at
                FROM json_to_recordset($1::json) AS r(event_id text, hook_id text, hook_name text, attempts int, dead boolean, last_error text, updated_at bigint)
                WHERE EXISTS (SELECT 1 FROM hooks h WHERE h.id = r.hook_id)
                ON CONFLICT (event_id, hook_id) DO UPDATE SET attempts = excluded.attempts, dead = excluded.dead,
                    last_error = excluded.last_error, updated_at = excluded.updated_at
                """, [.text(set.json)])
        }
        var skips = PGRecordSet()
        for o in outcomes {
            for k in o.skips {
                skips.row([
                    "event_id": .text(k.eventID), "hook_id": .text(k.hookID), "hook_name": .text(k.hookName), "reason": .text(k.reason),
                    "detail": .text(k.detail), "related_event_id": .text(k.relatedEventID), "at": .int(k.at),
                ])
            }
        }
        if skips.count > 0 {
            try await tx.run(
                """
                INSERT INTO hook_skips (event_id, hook_id, hook_name, reason, detail, related_event_id, at)
                SELECT r.event_id, r.hook_id, r.hook_name, r.reason, r.detail, r.related_event_id, r.at
                FROM json_to_recordset($1::json) AS r(event_id text, hook_id text, hook_name text, reason text, detail text, related_event_id text, at bigint)
                WHERE EXISTS (SELECT 1 FROM hooks h WHERE h.id = r.hook_id)
                ON CONFLICT DO NOTHING
                """, [.text(skips.json)])
        }
    }
}
