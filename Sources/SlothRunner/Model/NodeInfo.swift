/// An engine serving the store, as it registers itself (`sloth-runner nodes`): one row per
/// incarnation (its lease owner), refreshed by its heartbeat.
public struct NodeInfo: Sendable, Equatable {
    public enum State: String, Sendable {
        /// Heartbeating.
        case alive
        /// Shut down cleanly.
        case stopped
        /// Its heartbeat stopped for longer than a lease: marked by another node, whose rescue
        /// returns its leases to the pool.
        case dead
    }

    /// The lease owner of this incarnation (`node/pid-random`), and the node's name.
    public var owner: String
    public var nodeID: String
    public var hostname: String
    public var version: String
    public var tags: [String]
    public var pid: Int
    public var startedAt: Millis
    public var heartbeatAt: Millis
    public var state: State
    /// Events it was working on at its last heartbeat.
    public var inFlight: Int

    package init(
        owner: String, nodeID: String, hostname: String, version: String, tags: [String], pid: Int, startedAt: Millis,
        heartbeatAt: Millis, state: State, inFlight: Int
    ) {
        self.owner = owner
        self.nodeID = nodeID
        self.hostname = hostname
        self.version = version
        self.tags = tags
        self.pid = pid
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.state = state
        self.inFlight = inFlight
    }

    /// As `nodes -o json` prints it.
    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "owner": .string(owner), "node_id": .string(nodeID), "hostname": .string(hostname), "version": .string(version),
            "tags": .array(tags.map(JSONValue.string)), "pid": .int(Int64(pid)), "state": .string(state.rawValue),
            "in_flight": .int(Int64(inFlight)),
        ]
        JSONValue.stamp(&o, "started_at", startedAt)
        JSONValue.stamp(&o, "heartbeat_at", heartbeatAt)
        return .object(o)
    }
}

/// Who holds a duty only one node may run (retention, the scheduler, health checks), and until when.
public struct SingletonLease: Sendable, Equatable {
    public var name: String
    public var owner: String
    public var expiresAt: Millis

    package init(name: String, owner: String, expiresAt: Millis) {
        self.name = name
        self.owner = owner
        self.expiresAt = expiresAt
    }
}
