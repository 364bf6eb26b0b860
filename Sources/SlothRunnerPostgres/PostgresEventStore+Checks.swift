import Foundation
import SlothRunner

/// Health checks in PostgreSQL.
extension PostgresEventStore: HealthCheckStore {
    private static let checkColumns = "name, kind, target, service, expect_status, expect_body, interval_ms, timeout_ms, failures, latency_threshold_ms, emit_passed, created_at, declared_in"

    private static let checkInsert = "INSERT INTO checks (\(checkColumns)) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"

    private static func checkValues(_ c: HealthCheck) -> [PGValue] {
        [.text(c.name), .text(c.kind.rawValue), .text(c.target), .text(c.service), .int(c.expectStatus), .text(c.expectBody),
         .int(c.intervalMillis), .int(c.timeoutMillis), .int(c.failures), .int(c.latencyThresholdMillis), .bool(c.emitPassed),
         .int(c.createdAt), .text(c.declaredIn)]
    }

    private static func check(from row: PGRow) -> HealthCheck {
        HealthCheck(
            name: row.textValue(0), kind: HealthCheck.Kind(rawValue: row.textValue(1)) ?? .http, target: row.textValue(2), service: row.textValue(3),
            expectStatus: Int(row.intValue(4)), expectBody: row.text(5), intervalMillis: row.intValue(6), timeoutMillis: row.intValue(7),
            failures: Int(row.intValue(8)), latencyThresholdMillis: row.int(9), emitPassed: row.bool(10), createdAt: row.intValue(11),
            declaredIn: row.text(12))
    }

    package func checkAdd(_ check: HealthCheck) async throws {
        try await write { tx in
            guard try await tx.run(Self.checkInsert + " ON CONFLICT (name) DO NOTHING RETURNING 1", Self.checkValues(check)) == 1 else {
                throw SlothError.conflict("a check named '\(check.name)' exists already; remove it first (`sloth-runner check remove \(check.name)`)")
            }
            try await Self.bumpVersion("checks_version", tx)
        }
    }

    package func check(named name: String) async throws -> HealthCheck? {
        try await pool.query("SELECT \(Self.checkColumns) FROM checks WHERE name = $1", [.text(name)], Self.check(from:)).first
    }

    package func checkList() async throws -> [HealthCheck] {
        try await pool.query("SELECT \(Self.checkColumns) FROM checks ORDER BY name COLLATE \"C\"", [], Self.check(from:))
    }

    package func checkRemove(name: String) async throws -> Bool {
        try await write { tx in
            let removed = try await tx.run("DELETE FROM checks WHERE name = $1 RETURNING 1", [.text(name)]) == 1
            if removed { try await Self.bumpVersion("checks_version", tx) }
            return removed
        }
    }

    package func checkSync(declared: [HealthCheck]) async throws -> (added: [String], changed: [String], removed: [String]) {
        let plan = try await write { tx in
            let plan = DeclaredSync(stored: try await tx.query("SELECT \(Self.checkColumns) FROM checks FOR UPDATE", [], Self.check(from:)), declared: declared)
            for name in plan.removed + plan.changed { try await tx.run("DELETE FROM checks WHERE name = $1 RETURNING 1", [.text(name)]) }
            for c in plan.writes { try await tx.run(Self.checkInsert + " RETURNING 1", Self.checkValues(c)) }
            if plan.changesAnything { try await Self.bumpVersion("checks_version", tx) }
            return plan
        }
        return plan.summary
    }

    package func checksVersion() async throws -> Int64 { try await version("checks_version") }
}
