/// A small periodic job of a running engine, in the manner of Oban's plugins: each does one
/// thing on its own interval, and a failing run is logged and retried on the next tick.
protocol EngineDuty: Sendable {
    var name: String { get }
    var intervalMillis: Int64 { get }
    func perform(_ engine: Engine) async throws
}

/// Extends the leases of every event this engine is processing, so a long hook keeps its claim.
struct LeaseRenewal: EngineDuty {
    let name = "lease-renewal"
    let intervalMillis: Int64
    func perform(_ engine: Engine) async throws {
        try await engine.store.renewLeases(owner: engine.owner, until: nowMillis() + engine.configuration.leaseMillis)
    }
}

/// Returns events whose lease expired (their node died) to the pending pool.
struct LeaseRescue: EngineDuty {
    let name = "lease-rescue"
    let intervalMillis: Int64
    func perform(_ engine: Engine) async throws {
        if try await engine.store.rescueExpiredLeases(now: nowMillis()) > 0 { engine.wakeClaimer() }
    }
}

/// Notices hooks added, changed or removed by other processes (the CLI) within a tick.
struct HookRefresh: EngineDuty {
    let name = "hook-refresh"
    let intervalMillis: Int64
    func perform(_ engine: Engine) async throws {
        try await engine.refreshHooks(force: false)
    }
}

/// Deletes finished events past their retention (executions go with them by cascade).
struct RetentionPruner: EngineDuty {
    let name = "retention-pruner"
    let intervalMillis: Int64
    let completedMillis: Int64?
    let failedMillis: Int64?
    func perform(_ engine: Engine) async throws {
        let now = nowMillis()
        if let keep = completedMillis { _ = try await engine.store.deleteEvents(olderThan: now - keep, status: .completed) }
        if let keep = failedMillis { _ = try await engine.store.deleteEvents(olderThan: now - keep, status: .failed) }
        _ = try await engine.store.pruneExpiredState(now: now)
    }
}
