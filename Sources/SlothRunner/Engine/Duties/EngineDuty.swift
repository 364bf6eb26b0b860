import Logging

/// A small periodic job of a running engine, in the manner of Oban's plugins: each does one
/// thing on its own interval, and a failing run is logged and retried on the next tick.
protocol EngineDuty: Sendable {
    var name: String { get }
    var intervalMillis: Int64 { get }
    func perform(_ engine: Engine) async throws
}

/// Extends the leases of the events this engine is still working on (a long hook keeps its
/// claim; an outcome waiting to be written keeps its event), and nothing else: a lease this
/// engine no longer works on lapses. In the same transaction, returns every expired lease to
/// the pending pool (its node died, or gave the work up).
struct LeaseKeeper: EngineDuty {
    let name = "lease-keeper"
    let intervalMillis: Int64
    /// Whether to rescue expired leases (an engine that does not claim leaves that to others).
    let rescues: Bool
    func perform(_ engine: Engine) async throws {
        let now = nowMillis()
        let rescued = try await engine.driver.keepLeases(
            owner: engine.owner, eventIDs: engine.leaseBook.snapshot, until: now + engine.configuration.leaseMillis,
            rescueExpiredBefore: rescues ? now : Millis.min)
        if rescued > 0 {
            engine.metrics.leaseRescues.increment(by: rescued)
            engine.configuration.logger.notice("rescued \(rescued) event(s) whose lease had expired (their engine stopped or gave them up); they run again", metadata: ["rescued": "\(rescued)"])
            engine.wakeClaimer()
        }
    }
}

/// Notices hooks added, changed or removed by other processes (the CLI) within a tick (a
/// second while the store is quiet).
struct HookRefresh: EngineDuty {
    let name = "hook-refresh"
    let intervalMillis: Int64
    func perform(_ engine: Engine) async throws {
        try await engine.refreshHooksIfTheStoreMayHaveChanged()
    }
}

/// Deletes finished events past their retention (executions go with them by cascade), and
/// the change journal's entries past theirs.
struct RetentionPruner: EngineDuty {
    let name = "retention-pruner"
    let intervalMillis: Int64
    let completedMillis: Int64?
    let failedMillis: Int64?
    let changesMillis: Int64?
    func perform(_ engine: Engine) async throws {
        // One node prunes for all of them.
        // One node prunes for all of them: it holds the duty for two of its intervals and
        // renews it each time; should it die, another node takes over after that.
        guard await engine.holdSingleton("retention", forMillis: 2 * intervalMillis + engine.configuration.leaseMillis) else { return }
        let now = nowMillis()
        if let keep = changesMillis { _ = try await engine.driver.pruneChanges(olderThan: now - keep) }
        var deleted = 0
        if let keep = completedMillis { deleted += try await engine.driver.deleteEvents(olderThan: now - keep, status: .completed) }
        if let keep = failedMillis { deleted += try await engine.driver.deleteEvents(olderThan: now - keep, status: .failed) }
        if deleted > 0 { engine.configuration.logger.info("retention: deleted \(deleted) finished event(s) past their retention", metadata: ["deleted": "\(deleted)"]) }
        _ = try await engine.driver.pruneExpiredState(now: now)
        _ = try await engine.driver.pruneControlStates(now: now)
    }
}

/// Notices the store going away under the engine (its database file deleted or replaced):
/// the engine would go on writing where nobody reads, so the embedding program is told to stop.
struct StorageWatch: EngineDuty {
    let name = "storage-watch"
    let intervalMillis: Int64
    func perform(_ engine: Engine) async throws {
        do {
            try await engine.driver.verifyStorage()
        } catch let error as SlothError {
            engine.reportFatal(error)
        } catch {
            engine.reportFatal(.storage("\(error)"))
        }
    }
}

/// Keeps this engine's row in the node registry fresh (`sloth-runner nodes`), and marks dead
/// the nodes whose heartbeat stopped for longer than a lease: their leases go back to the pool
/// at once (a lease of theirs that expires is rescued anyway; this is sooner for a long lease).
struct NodeHeartbeat: EngineDuty {
    let name = "node-heartbeat"
    let intervalMillis: Int64
    /// Stopped and dead rows are forgotten after this long.
    static let forgetMillis: Int64 = 7 * 86_400_000
    func perform(_ engine: Engine) async throws {
        let now = nowMillis()
        try await engine.driver.nodeHeartbeat(engine.nodeInfo(at: now))
        let dead = try await engine.driver.nodesMarkDead(heartbeatBefore: now - engine.configuration.leaseMillis)
        for owner in dead where owner != engine.owner {
            let released = try await engine.driver.releaseLeases(owner: owner, eventIDs: nil)
            engine.configuration.logger.notice(
                "node \(owner) stopped heartbeating for longer than a lease; marked dead, \(released) of its event(s) back to the pool",
                metadata: ["node": "\(owner)", "released": "\(released)"])
            if released > 0 { engine.wakeClaimer() }
        }
        if Int.random(in: 0..<100) == 0 { _ = try await engine.driver.nodesForget(before: now - Self.forgetMillis) }
    }
}
