/// The engines serving the store, and the duties only one of them runs at a time.
package protocol NodeRegistryStore: Sendable {
    /// Registers or refreshes a node's row (its heartbeat).
    func nodeHeartbeat(_ node: NodeInfo) async throws
    /// Marks a node's row stopped (a clean shutdown).
    func nodeStopped(owner: String, at: Millis) async throws
    /// Every node row, the live ones first, then by node id.
    func nodeList() async throws -> [NodeInfo]
    /// Marks dead every alive node whose heartbeat is older than `before`; returns their owners.
    func nodesMarkDead(heartbeatBefore before: Millis) async throws -> [String]
    /// Deletes rows of nodes stopped or dead before `before` (the registry does not grow forever).
    func nodesForget(before: Millis) async throws -> Int

    /// Takes or renews the lease of duty `name` for `owner` until `until`: granted when nobody
    /// holds it, the holder is `owner`, or the holder's lease expired before `now`.
    func singletonAcquire(name: String, owner: String, until: Millis, now: Millis) async throws -> Bool
    /// Gives the lease up (a clean shutdown), so another node takes it at once.
    func singletonRelease(name: String, owner: String) async throws
    func singletonList() async throws -> [SingletonLease]
}
