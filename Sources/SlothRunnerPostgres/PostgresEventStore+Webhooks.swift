import Foundation
import SlothRunner

/// Inbound webhooks in PostgreSQL, and their sync with the config file.
extension PostgresEventStore: WebhookStore {
    private static let webhookColumns = "name, event_type, verify, secret, stack, signature_header, delivery_header, created_at, declared_in"

    private static func webhook(from row: PGRow) -> Webhook {
        Webhook(
            name: row.textValue(0), eventType: row.textValue(1), verification: Webhook.Verification(rawValue: row.textValue(2)) ?? .token,
            secret: row.text(3), stack: row.text(4), signatureHeader: row.text(5), deliveryHeader: row.text(6), createdAt: row.intValue(7),
            declaredIn: row.text(8))
    }

    private static func webhookValues(_ w: Webhook) -> [PGValue] {
        [.text(w.name), .text(w.eventType), .text(w.verification.rawValue), .text(w.secret), .text(w.stack), .text(w.signatureHeader),
         .text(w.deliveryHeader), .int(w.createdAt), .text(w.declaredIn)]
    }

    package func webhookAdd(_ w: Webhook) async throws {
        try await write { tx in
            let inserted = try await tx.run(
                "INSERT INTO webhooks (\(Self.webhookColumns)) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (name) DO NOTHING RETURNING 1",
                Self.webhookValues(Webhook(name: w.name, eventType: w.eventType, verification: w.verification, secret: w.secret, stack: w.stack,
                                           signatureHeader: w.signatureHeader, deliveryHeader: w.deliveryHeader, createdAt: w.createdAt, declaredIn: nil)))
            guard inserted == 1 else {
                throw SlothError.conflict("a webhook named '\(w.name)' exists already; remove it first (`sloth-runner webhook remove \(w.name)`)")
            }
        }
    }

    package func webhook(named name: String) async throws -> Webhook? {
        try await pool.query("SELECT \(Self.webhookColumns) FROM webhooks WHERE name = $1", [.text(name)], Self.webhook(from:)).first
    }

    package func webhookList() async throws -> [Webhook] {
        try await pool.query("SELECT \(Self.webhookColumns) FROM webhooks ORDER BY name COLLATE \"C\"", [], Self.webhook(from:))
    }

    package func webhookRemove(name: String) async throws -> Bool {
        try await write { tx in try await tx.run("DELETE FROM webhooks WHERE name = $1 RETURNING 1", [.text(name)]) == 1 }
    }

    package func webhookSync(declared: [Webhook]) async throws -> (added: [String], changed: [String], removed: [String]) {
        let plan = try await write { tx in
            let plan = DeclaredSync(stored: try await tx.query("SELECT \(Self.webhookColumns) FROM webhooks FOR UPDATE", [], Self.webhook(from:)), declared: declared)
            for name in plan.removed { try await tx.run("DELETE FROM webhooks WHERE name = $1 RETURNING 1", [.text(name)]) }
            for w in plan.writes {
                try await tx.run(
                    """
                    INSERT INTO webhooks (\(Self.webhookColumns)) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
                    ON CONFLICT (name) DO UPDATE SET event_type = excluded.event_type, verify = excluded.verify, secret = excluded.secret,
                        stack = excluded.stack, signature_header = excluded.signature_header, delivery_header = excluded.delivery_header,
                        declared_in = excluded.declared_in
                    RETURNING 1
                    """, Self.webhookValues(w))
            }
            return plan
        }
        return plan.summary
    }
}
