import Foundation
import SlothRunner

/// The node registry and the leases of duties one node runs at a time.
///
/// A duty's lease is a row, not a session-level advisory lock: a lock lives as long as its
/// connection, so a node that hangs (stopped, swapping, partitioned from its peers but not from
/// the database) would hold it forever; a lease it cannot renew lapses within one lease period,
/// and another node takes the duty over.
extension PostgresEventStore: NodeRegistryStore {
    static let nodeColumns = "owner, node_id, hostname, version, tags, pid, started_at, heartbeat_at, state, in_flight"

    static func node(from row: PGRow) -> NodeInfo {
        NodeInfo(
            owner: row.textValue(0), nodeID: row.textValue(1), hostname: row.textValue(2), version: row.textValue(3),
            tags: Hook.tags(stored: row.text(4)), pid: Int(row.intValue(5)), startedAt: row.intValue(6), heartbeatAt: row.intValue(7),
            state: NodeInfo.State(rawValue: row.textValue(8)) ?? .dead, inFlight: Int(row.intValue(9)))
    }

    package func nodeHeartbeat(_ n: NodeInfo) async throws {
        try await write { tx in
            try await tx.run(
                """
                INSERT INTO nodes (\(Self.nodeColumns)) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
                ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, state = excluded.state, in_flight = excluded.in_flight,
                    tags = excluded.tags, version = excluded.version
                RETURNING 1
                """,
                [.text(n.owner), .text(n.nodeID), .text(n.hostname), .text(n.version), .text(Hook.storedTags(n.tags) ?? "[]"),
                 .int(n.pid), .int(n.startedAt), .int(n.heartbeatAt), .text(n.state.rawValue), .int(n.inFlight)])
        }
    }

    package func nodeStopped(owner: String, at: Millis) async throws {
        try await write { tx in
            try await tx.run("UPDATE nodes SET state = 'stopped', heartbeat_at = $1, in_flight = 0 WHERE owner = $2 RETURNING 1", [.int(at), .text(owner)])
            try await tx.run("DELETE FROM singletons WHERE owner = $1 RETURNING 1", [.text(owner)])
        }
    }

    package func nodeList() async throws -> [NodeInfo] {
        try await pool.query(
            "SELECT \(Self.nodeColumns) FROM nodes ORDER BY state = 'alive' DESC, node_id COLLATE \"C\", started_at DESC", [], Self.node(from:))
    }

    package func nodesMarkDead(heartbeatBefore before: Millis) async throws -> [String] {
        try await write { tx in
            try await tx.query("UPDATE nodes SET state = 'dead' WHERE state = 'alive' AND heartbeat_at < $1 RETURNING owner", [.int(before)]) { $0.textValue(0) }
        }
    }

    package func nodesForget(before: Millis) async throws -> Int {
        try await write { tx in try await tx.run("DELETE FROM nodes WHERE state <> 'alive' AND heartbeat_at < $1 RETURNING 1", [.int(before)]) }
    }

    package func singletonAcquire(name: String, owner: String, until: Millis, now: Millis) async throws -> Bool {
        try await write { tx in
            let held = try await tx.run(
                """
                INSERT INTO singletons (name, owner, expires_at) VALUES ($1, $2, $3)
                ON CONFLICT (name) DO UPDATE SET owner = $2, expires_at = $3 WHERE singletons.owner = $2 OR singletons.expires_at < $4
                RETURNING 1
                """, [.text(name), .text(owner), .int(until), .int(now)])
            return held == 1
        }
    }

    package func singletonRelease(name: String, owner: String) async throws {
        try await write { tx in try await tx.run("DELETE FROM singletons WHERE name = $1 AND owner = $2 RETURNING 1", [.text(name), .text(owner)]) }
    }

    package func singletonList() async throws -> [SingletonLease] {
        try await pool.query("SELECT name, owner, expires_at FROM singletons ORDER BY name COLLATE \"C\"", []) {
            SingletonLease(name: $0.textValue(0), owner: $0.textValue(1), expiresAt: $0.intValue(2))
        }
    }
}
