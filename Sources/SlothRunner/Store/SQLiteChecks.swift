/// Health checks in SQLite.
extension SQLiteEventStore: HealthCheckStore {
    private static let checkColumns = "name, kind, target, service, expect_status, expect_body, interval_ms, timeout_ms, failures, latency_threshold_ms, emit_passed, created_at, declared_in"

    private static func checkValues(_ c: HealthCheck) -> [SQLValue] {
        [.text(c.name), .text(c.kind.rawValue), .text(c.target), .text(c.service), .int(Int64(c.expectStatus)), Self.optionalText(c.expectBody),
         .int(c.intervalMillis), .int(c.timeoutMillis), .int(Int64(c.failures)), Self.optionalInt(c.latencyThresholdMillis),
         .int(c.emitPassed ? 1 : 0), .int(c.createdAt), Self.optionalText(c.declaredIn)]
    }

    private static func check(from row: SQLiteConnection.Row) -> HealthCheck {
        HealthCheck(
            name: row.textValue(0), kind: HealthCheck.Kind(rawValue: row.textValue(1)) ?? .http, target: row.textValue(2), service: row.textValue(3),
            expectStatus: Int(row.intValue(4)), expectBody: row.text(5), intervalMillis: row.intValue(6), timeoutMillis: row.intValue(7),
            failures: Int(row.intValue(8)), latencyThresholdMillis: row.int(9), emitPassed: row.intValue(10) != 0, createdAt: row.intValue(11),
            declaredIn: row.text(12))
    }

    private static func bumpChecksVersion(_ db: SQLiteConnection) throws(SlothError) {
        try db.run("UPDATE meta SET value = value + 1 WHERE key = 'checks_version'")
    }

    package func checkAdd(_ check: HealthCheck) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM checks WHERE name = ?", [.text(check.name)]) != nil {
                throw SlothError.conflict("a check named '\(check.name)' exists already; remove it first (`sloth-runner check remove \(check.name)`)")
            }
            try db.run("INSERT INTO checks (\(Self.checkColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", Self.checkValues(check))
            try Self.bumpChecksVersion(db)
        }
    }

    package func check(named name: String) async throws -> HealthCheck? {
        try await reader.perform { db in try db.query("SELECT \(Self.checkColumns) FROM checks WHERE name = ?", [.text(name)], Self.check(from:)).first }
    }

    package func checkList() async throws -> [HealthCheck] {
        try await reader.perform { db in try db.query("SELECT \(Self.checkColumns) FROM checks ORDER BY name", [], Self.check(from:)) }
    }

    package func checkRemove(name: String) async throws -> Bool {
        try await writer.perform { db in
            let removed = try db.run("DELETE FROM checks WHERE name = ?", [.text(name)]) == 1
            if removed { try Self.bumpChecksVersion(db) }
            return removed
        }
    }

    package func checkSync(declared: [HealthCheck]) async throws -> (added: [String], changed: [String], removed: [String]) {
        try await writer.perform { db in
            let plan = DeclaredSync(stored: try db.query("SELECT \(Self.checkColumns) FROM checks", [], Self.check(from:)), declared: declared)
            for name in plan.removed { try db.run("DELETE FROM checks WHERE name = ?", [.text(name)]) }
            for c in plan.writes { try db.run("INSERT OR REPLACE INTO checks (\(Self.checkColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", Self.checkValues(c)) }
            if plan.changesAnything { try Self.bumpChecksVersion(db) }
            return plan.summary
        }
    }

    package func checksVersion() async throws -> Int64 {
        try await reader.perform { db in try db.scalarInt("SELECT value FROM meta WHERE key = 'checks_version'") ?? 0 }
    }
}
