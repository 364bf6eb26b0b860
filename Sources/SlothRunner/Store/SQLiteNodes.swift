import Foundation

/// The node registry and single-node duty leases, on SQLite: one machine usually runs one
/// node, but the tables and their rules are the PostgreSQL store's, so both drivers behave alike.
extension SQLiteEventStore: NodeRegistryStore {
    static let nodeColumns = "owner, node_id, hostname, version, tags, pid, started_at, heartbeat_at, state, in_flight"

    static func node(from row: SQLiteConnection.Row) -> NodeInfo {
        NodeInfo(
            owner: row.textValue(0), nodeID: row.textValue(1), hostname: row.textValue(2), version: row.textValue(3),
            tags: Hook.tags(stored: row.text(4)), pid: Int(row.intValue(5)), startedAt: row.intValue(6), heartbeatAt: row.intValue(7),
            state: NodeInfo.State(rawValue: row.textValue(8)) ?? .dead, inFlight: Int(row.intValue(9)))
    }

    package func nodeHeartbeat(_ n: NodeInfo) async throws {
        try await writerPerform { db in
            try db.run(
                """
                INSERT INTO nodes (\(Self.nodeColumns)) VALUES (?,?,?,?,?,?,?,?,?,?)
                ON CONFLICT(owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, state = excluded.state, in_flight = excluded.in_flight,
                    tags = excluded.tags, version = excluded.version
                """,
                [.text(n.owner), .text(n.nodeID), .text(n.hostname), .text(n.version), .text(Hook.storedTags(n.tags) ?? "[]"),
                 .int(Int64(n.pid)), .int(n.startedAt), .int(n.heartbeatAt), .text(n.state.rawValue), .int(Int64(n.inFlight))])
        }
    }

    package func nodeStopped(owner: String, at: Millis) async throws {
        try await writerPerform { db in
            try db.run("UPDATE nodes SET state = 'stopped', heartbeat_at = ?, in_flight = 0 WHERE owner = ?", [.int(at), .text(owner)])
            try db.run("DELETE FROM singletons WHERE owner = ?", [.text(owner)])
        }
    }

    package func nodeList() async throws -> [NodeInfo] {
        try await readerPerform { db in
            try db.query(
                "SELECT \(Self.nodeColumns) FROM nodes ORDER BY state = 'alive' DESC, node_id, started_at DESC", [], Self.node(from:))
        }
    }

    package func nodesMarkDead(heartbeatBefore before: Millis) async throws -> [String] {
        try await writerPerform { db in
            try db.query("UPDATE nodes SET state = 'dead' WHERE state = 'alive' AND heartbeat_at < ? RETURNING owner", [.int(before)]) { $0.textValue(0) }
        }
    }

    package func nodesForget(before: Millis) async throws -> Int {
        try await writerPerform { db in try db.run("DELETE FROM nodes WHERE state <> 'alive' AND heartbeat_at < ?", [.int(before)]) }
    }

    package func singletonAcquire(name: String, owner: String, until: Millis, now: Millis) async throws -> Bool {
        try await writerPerform { db in
            try db.run(
                """
                INSERT INTO singletons (name, owner, expires_at) VALUES (?1, ?2, ?3)
                ON CONFLICT(name) DO UPDATE SET owner = ?2, expires_at = ?3 WHERE singletons.owner = ?2 OR singletons.expires_at < ?4
                """, [.text(name), .text(owner), .int(until), .int(now)])
            return try db.query("SELECT owner FROM singletons WHERE name = ?", [.text(name)]) { $0.textValue(0) }.first == owner
        }
    }

    package func singletonRelease(name: String, owner: String) async throws {
        try await writerPerform { db in try db.run("DELETE FROM singletons WHERE name = ? AND owner = ?", [.text(name), .text(owner)]) }
    }

    package func singletonList() async throws -> [SingletonLease] {
        try await readerPerform { db in
            try db.query("SELECT name, owner, expires_at FROM singletons ORDER BY name", []) {
                SingletonLease(name: $0.textValue(0), owner: $0.textValue(1), expiresAt: $0.intValue(2))
            }
        }
    }
}
