/// Schedules in SQLite: a slot fires once because its events and the schedule's mark move in one
/// transaction, compare-and-set on the mark.
extension SQLiteEventStore: ScheduleStore {
    private static let scheduleColumns = "name, id, cron, timezone, event_type, data, stack, catch_up, max_catch_up, enabled, created_at, fired_through, declared_in"

    private static func scheduleValues(_ s: Schedule) -> [SQLValue] {
        [.text(s.name), .text(s.id), .text(s.cron), .text(s.zone), .text(s.eventType), .text(s.data.serialized()), Self.optionalText(s.stack),
         .text(s.catchUp.rawValue), .int(Int64(s.maxCatchUp)), .int(s.enabled ? 1 : 0), .int(s.createdAt), .int(s.firedThrough),
         Self.optionalText(s.declaredIn)]
    }

    private static func schedule(from row: SQLiteConnection.Row) -> Schedule {
        Schedule(
            name: row.textValue(0), id: row.textValue(1), cron: row.textValue(2), zone: row.textValue(3), eventType: row.textValue(4),
            data: (try? JSONValue.parse(row.textValue(5))) ?? .object([:]), stack: row.text(6),
            catchUp: Schedule.CatchUp(rawValue: row.textValue(7)) ?? .skip, maxCatchUp: Int(row.intValue(8)), enabled: row.intValue(9) != 0,
            createdAt: row.intValue(10), firedThrough: row.intValue(11), declaredIn: row.text(12))
    }

    private static func bumpSchedulesVersion(_ db: SQLiteConnection) throws(SlothError) {
        try db.run("UPDATE meta SET value = value + 1 WHERE key = 'schedules_version'")
    }

    package func scheduleAdd(_ schedule: Schedule) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM schedules WHERE name = ?", [.text(schedule.name)]) != nil {
                throw SlothError.conflict("a schedule named '\(schedule.name)' exists already; remove it first (`sloth-runner schedule remove \(schedule.name)`)")
            }
            try db.run("INSERT INTO schedules (\(Self.scheduleColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", Self.scheduleValues(schedule))
            try Self.bumpSchedulesVersion(db)
        }
    }

    package func schedule(named name: String) async throws -> Schedule? {
        try await reader.perform { db in try db.query("SELECT \(Self.scheduleColumns) FROM schedules WHERE name = ?", [.text(name)], Self.schedule(from:)).first }
    }

    package func scheduleList() async throws -> [Schedule] {
        try await reader.perform { db in try db.query("SELECT \(Self.scheduleColumns) FROM schedules ORDER BY name", [], Self.schedule(from:)) }
    }

    package func scheduleRemove(name: String) async throws -> Bool {
        try await writer.perform { db in
            let removed = try db.run("DELETE FROM schedules WHERE name = ?", [.text(name)]) == 1
            if removed { try Self.bumpSchedulesVersion(db) }
            return removed
        }
    }

    package func scheduleSetEnabled(name: String, enabled: Bool, now: Millis) async throws -> Bool {
        try await writer.perform { db in
            let changed = enabled
                ? try db.run("UPDATE schedules SET enabled = 1, fired_through = MAX(fired_through, ?) WHERE name = ? AND enabled = 0", [.int(now), .text(name)])
                : try db.run("UPDATE schedules SET enabled = 0 WHERE name = ? AND enabled = 1", [.text(name)])
            if changed == 1 { try Self.bumpSchedulesVersion(db) }
            return try db.scalarInt("SELECT 1 FROM schedules WHERE name = ?", [.text(name)]) != nil
        }
    }

    package func scheduleFire(name: String, from: Millis, through: Millis, events: [Event]) async throws -> Bool {
        try await writer.perform { db in
            let moved = try db.run(
                "UPDATE schedules SET fired_through = ? WHERE name = ? AND fired_through = ? AND enabled = 1",
                [.int(through), .text(name), .int(from)])
            guard moved == 1 else { return false }
            for e in events { try Self.insert(e, on: db) }
            return true
        }
    }

    package func scheduleSync(declared: [Schedule]) async throws -> (added: [String], changed: [String], removed: [String]) {
        try await writer.perform { db in
            let plan = DeclaredSync(stored: try db.query("SELECT \(Self.scheduleColumns) FROM schedules", [], Self.schedule(from:)), declared: declared)
            for name in plan.removed { try db.run("DELETE FROM schedules WHERE name = ?", [.text(name)]) }
            for s in plan.writes { try db.run("INSERT OR REPLACE INTO schedules (\(Self.scheduleColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", Self.scheduleValues(s)) }
            if plan.changesAnything { try Self.bumpSchedulesVersion(db) }
            return plan.summary
        }
    }

    package func schedulesVersion() async throws -> Int64 {
        try await reader.perform { db in try db.scalarInt("SELECT value FROM meta WHERE key = 'schedules_version'") ?? 0 }
    }
}
