import Foundation
import SlothRunner

/// Schedules in PostgreSQL: a slot's events and the schedule's mark move in one transaction,
/// compare-and-set on the mark, so whichever node fires a slot fires it once.
extension PostgresEventStore: ScheduleStore {
    private static let scheduleColumns = "name, id, cron, timezone, event_type, data, stack, catch_up, max_catch_up, enabled, created_at, fired_through, declared_in"

    private static let scheduleSelect = scheduleColumns.replacingOccurrences(of: " data,", with: " data::text,")

    private static let scheduleInsert = "INSERT INTO schedules (\(scheduleColumns)) VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,$8,$9,$10,$11,$12,$13)"

    private static func scheduleValues(_ s: Schedule) -> [PGValue] {
        [.text(s.name), .text(s.id), .text(s.cron), .text(s.zone), .text(s.eventType), .text(s.data.serialized()), .text(s.stack),
         .text(s.catchUp.rawValue), .int(s.maxCatchUp), .bool(s.enabled), .int(s.createdAt), .int(s.firedThrough), .text(s.declaredIn)]
    }

    private static func schedule(from row: PGRow) -> Schedule {
        Schedule(
            name: row.textValue(0), id: row.textValue(1), cron: row.textValue(2), zone: row.textValue(3), eventType: row.textValue(4),
            data: (try? JSONValue.parse(row.textValue(5))) ?? .object([:]), stack: row.text(6),
            catchUp: Schedule.CatchUp(rawValue: row.textValue(7)) ?? .skip, maxCatchUp: Int(row.intValue(8)), enabled: row.bool(9),
            createdAt: row.intValue(10), firedThrough: row.intValue(11), declaredIn: row.text(12))
    }

    package func scheduleAdd(_ schedule: Schedule) async throws {
        try await write { tx in
            guard try await tx.run(Self.scheduleInsert + " ON CONFLICT (name) DO NOTHING RETURNING 1", Self.scheduleValues(schedule)) == 1 else {
                throw SlothError.conflict("a schedule named '\(schedule.name)' exists already; remove it first (`sloth-runner schedule remove \(schedule.name)`)")
            }
            try await Self.bumpVersion("schedules_version", tx)
        }
    }

    package func schedule(named name: String) async throws -> Schedule? {
        try await pool.query("SELECT \(Self.scheduleSelect) FROM schedules WHERE name = $1", [.text(name)], Self.schedule(from:)).first
    }

    package func scheduleList() async throws -> [Schedule] {
        try await pool.query("SELECT \(Self.scheduleSelect) FROM schedules ORDER BY name COLLATE \"C\"", [], Self.schedule(from:))
    }

    package func scheduleRemove(name: String) async throws -> Bool {
        try await write { tx in
            let removed = try await tx.run("DELETE FROM schedules WHERE name = $1 RETURNING 1", [.text(name)]) == 1
            if removed { try await Self.bumpVersion("schedules_version", tx) }
            return removed
        }
    }

    package func scheduleSetEnabled(name: String, enabled: Bool, now: Millis) async throws -> Bool {
        try await write { tx in
            let changed = enabled
                ? try await tx.run("UPDATE schedules SET enabled = TRUE, fired_through = GREATEST(fired_through, $1) WHERE name = $2 AND NOT enabled RETURNING 1", [.int(now), .text(name)])
                : try await tx.run("UPDATE schedules SET enabled = FALSE WHERE name = $1 AND enabled RETURNING 1", [.text(name)])
            if changed == 1 { try await Self.bumpVersion("schedules_version", tx) }
            return try await tx.scalarInt("SELECT 1 FROM schedules WHERE name = $1", [.text(name)]) != nil
        }
    }

    package func scheduleFire(name: String, from: Millis, through: Millis, events: [Event]) async throws -> Bool {
        try await write { tx in
            let moved = try await tx.run(
                "UPDATE schedules SET fired_through = $1 WHERE name = $2 AND fired_through = $3 AND enabled RETURNING 1",
                [.int(through), .text(name), .int(from)])
            guard moved == 1 else { return false }
            if !events.isEmpty {
                var set = PGRecordSet()
                for e in events { PostgresBulkWrites.addEvent(e, finishedAs: nil, to: &set) }
                try await PostgresBulkWrites.insertEvents(set, on: tx)
                for e in events { tx.journal(e.id, status: e.status.rawValue) }
            }
            return true
        }
    }

    package func scheduleSync(declared: [Schedule]) async throws -> (added: [String], changed: [String], removed: [String]) {
        let plan = try await write { tx in
            let plan = DeclaredSync(stored: try await tx.query("SELECT \(Self.scheduleSelect) FROM schedules FOR UPDATE", [], Self.schedule(from:)), declared: declared)
            for name in plan.removed + plan.changed { try await tx.run("DELETE FROM schedules WHERE name = $1 RETURNING 1", [.text(name)]) }
            for s in plan.writes { try await tx.run(Self.scheduleInsert + " RETURNING 1", Self.scheduleValues(s)) }
            if plan.changesAnything { try await Self.bumpVersion("schedules_version", tx) }
            return plan
        }
        return plan.summary
    }

    package func schedulesVersion() async throws -> Int64 { try await version("schedules_version") }
}
