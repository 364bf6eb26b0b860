/// The queue, as an embedding program sees it: events go in, pending, for any engine serving
/// the store.
public protocol EventQueueStore: Sendable {
    /// Commits the events, pending, for any engine serving the store; returns once they are
    /// durable. Concurrent calls share a commit. (`Engine.dispatch` validates and stores one.)
    func insertEvents(_ events: [Event]) async throws
    /// Re-arms a failed event: its dead-lettered hooks get a fresh set of attempts.
    func retryEvent(id: String, now: Millis) async throws
}

/// The queue as the engine works it: claims under leases, outcomes written compare-and-set on
/// the lease, leases kept, released and rescued, and the signals that wake an idle engine.
package protocol LeasedQueueStore: EventQueueStore {
    /// Commits one event already claimed by this node. If its outcome reached `slot` before the
    /// insert runs, the event is written once, in its final state, with its executions, in the
    /// same transaction: no second write of the row. A busy store may hold the insert back a
    /// few milliseconds for the outcome to arrive.
    func insertClaimed(_ event: Event, slot: OutcomeSlot) async throws
    /// Commits an event a hook dispatched, pending, unless an event with the same origin —
    /// (parent event, hook, position in the run) — is stored already: then that one is
    /// returned and nothing is written. A parent run again (retried, or re-claimed after a
    /// crash) thus stores each of its children at most once.
    func insertChildEvent(_ event: Event, originKey: String) async throws -> (event: Event, inserted: Bool)
    /// As `insertChildEvent`, but a key first used before `expiredBefore` no longer counts: it
    /// is taken from the old event and the new one stored (idempotency keys and webhook
    /// delivery ids hold for 24 hours, not as long as the event is kept).
    func insertKeyedEvent(_ event: Event, originKey: String, expiredBefore: Millis) async throws -> (event: Event, inserted: Bool)
    /// Claims up to `limit` due pending events under a lease held by `owner`, a node with
    /// `tags`: an event waiting for tags (a hook of it needs a node so tagged) is claimed only
    /// by a node with all of them.
    func claimEvents(owner: String, leaseMillis: Int64, limit: Int, now: Millis, tags: [String]) async throws -> [Event]
    /// Records what happened to claimed events, each only if its owner still holds the lease of
    /// that claim (compare-and-set). Outcomes are isolated from each other: one that cannot be
    /// written does not undo the others; executions of hooks removed meanwhile are dropped
    /// rather than failing the outcome. Throws only when the batch as a whole could not be
    /// committed (disk full, database locked): then nothing of it was written.
    func recordOutcomes(_ outcomes: [EventOutcome]) async throws -> [OutcomeWrite]
    /// Hook progress of an event from earlier claims: which hooks succeeded, which failed how often.
    func hookProgress(eventID: String) async throws -> HookProgress
    /// When the earliest pending event falls due, if any.
    func nextDueTime() async throws -> Millis?
    /// Extends the leases `owner` holds on the given events (work still in progress: a hook
    /// running, or an outcome waiting to be written), then returns to pending every lease,
    /// anyone's, that expired before `now`; in one transaction, so a lease being renewed is
    /// never rescued. Returns the number rescued.
    func keepLeases(owner: String, eventIDs: [String], until: Millis, rescueExpiredBefore now: Millis) async throws -> Int
    /// Puts the given (or all) events leased by `owner` back to pending, for another claim.
    func releaseLeases(owner: String, eventIDs: [String]?) async throws -> Int
    /// Releases every lease whose owner starts with `nodePrefix` but is not `current`: those of
    /// this node's earlier, dead incarnations — and the one-node duties they held, and marks
    /// their rows in the node registry dead, so a node restarted after a crash takes its work
    /// and its duties back at once instead of waiting a lease out.
    func releaseStaleLeases(nodePrefix: String, current: String) async throws -> Int
    /// Releases leases that expired before `now`, whoever held them.
    func rescueExpiredLeases(now: Millis) async throws -> Int
    /// Starts telling `onWrite` when another process may have written to the store (for
    /// SQLite: an inotify watch on the database and its WAL; for PostgreSQL: `LISTEN` on the
    /// channel every commit notifies); nil when the store cannot tell, and the engine then
    /// polls at its poll interval. The returned watch stops with `stop()`.
    func watchWrites(_ onWrite: @escaping @Sendable () -> Void) -> (any StoreWriteWatch)?
    /// Whether each `watchWrites` signal is one commit (PostgreSQL's NOTIFY), so the engine may
    /// claim on every one; false when signals are file writes, many per commit (SQLite's
    /// inotify), and only a quiet store's first one wakes it.
    var writeSignalsAreCommits: Bool { get }
}

extension LeasedQueueStore {
    package var writeSignalsAreCommits: Bool { false }

    /// Claims as a node without tags.
    package func claimEvents(owner: String, leaseMillis: Int64, limit: Int, now: Millis) async throws -> [Event] {
        try await claimEvents(owner: owner, leaseMillis: leaseMillis, limit: limit, now: now, tags: [])
    }

    /// Records one outcome; true when it was written, false when superseded.
    package func recordOutcome(_ outcome: EventOutcome) async throws -> Bool {
        switch try await recordOutcomes([outcome])[0] {
        case .recorded: return true
        case .superseded: return false
        case .failed(let message): throw SlothError.storage(message)
        }
    }
}
