/// Inbound webhooks in SQLite, and their sync with the config file.
extension SQLiteEventStore: WebhookStore {
    package func webhookAdd(_ w: Webhook) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM webhooks WHERE name = ?", [.text(w.name)]) != nil {
                throw SlothError.conflict("a webhook named '\(w.name)' exists already; remove it first (`sloth-runner webhook remove \(w.name)`)")
            }
            _ = try db.run(
                "INSERT INTO webhooks (name, event_type, verify, secret, stack, signature_header, delivery_header, created_at) VALUES (?,?,?,?,?,?,?,?)",
                [.text(w.name), .text(w.eventType), .text(w.verification.rawValue), Self.optionalText(w.secret), Self.optionalText(w.stack),
                 Self.optionalText(w.signatureHeader), Self.optionalText(w.deliveryHeader), .int(w.createdAt)])
        }
    }

    package func webhook(named name: String) async throws -> Webhook? {
        try await reader.perform { db in try db.query("SELECT \(Self.webhookColumns) FROM webhooks WHERE name = ?", [.text(name)], Self.webhook(from:)).first }
    }

    package func webhookList() async throws -> [Webhook] {
        try await reader.perform { db in try db.query("SELECT \(Self.webhookColumns) FROM webhooks ORDER BY name", [], Self.webhook(from:)) }
    }

    package func webhookRemove(name: String) async throws -> Bool {
        try await writer.perform { db in try db.run("DELETE FROM webhooks WHERE name = ?", [.text(name)]) == 1 }
    }

    private static let webhookColumns = "name, event_type, verify, secret, stack, signature_header, delivery_header, created_at, declared_in"

    package func webhookSync(declared: [Webhook]) async throws -> (added: [String], changed: [String], removed: [String]) {
        try await writer.perform { db in
            let plan = DeclaredSync(stored: try db.query("SELECT \(Self.webhookColumns) FROM webhooks", [], Self.webhook(from:)), declared: declared)
            for name in plan.removed { try db.run("DELETE FROM webhooks WHERE name = ?", [.text(name)]) }
            for w in plan.writes {
                try db.run(
                    """
                    INSERT INTO webhooks (name, event_type, verify, secret, stack, signature_header, delivery_header, created_at, declared_in) VALUES (?,?,?,?,?,?,?,?,?)
                    ON CONFLICT(name) DO UPDATE SET event_type = excluded.event_type, verify = excluded.verify, secret = excluded.secret,
                        stack = excluded.stack, signature_header = excluded.signature_header, delivery_header = excluded.delivery_header,
                        declared_in = excluded.declared_in
                    """,
                    [.text(w.name), .text(w.eventType), .text(w.verification.rawValue), Self.optionalText(w.secret), Self.optionalText(w.stack),
                     Self.optionalText(w.signatureHeader), Self.optionalText(w.deliveryHeader), .int(w.createdAt), Self.optionalText(w.declaredIn)])
            }
            return plan.summary
        }
    }

    private static func webhook(from row: SQLiteConnection.Row) -> Webhook {
        Webhook(
            name: row.textValue(0), eventType: row.textValue(1), verification: Webhook.Verification(rawValue: row.textValue(2)) ?? .token,
            secret: row.text(3), stack: row.text(4), signatureHeader: row.text(5), deliveryHeader: row.text(6), createdAt: row.intValue(7),
            declaredIn: row.text(8))
    }
}
