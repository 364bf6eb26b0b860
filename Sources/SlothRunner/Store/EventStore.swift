import Synchronization

/// The engine's only view of persistence. SQLite implements it for one node; a PostgreSQL
/// store will implement it for many. The shared behaviour suite (`EventStoreBehaviourTests`)
/// runs against every implementation.
public protocol EventStore: Sendable {
    // MARK: events: the hot path
    /// Commits the events; returns once they are durable. Concurrent calls share a commit.
    func insertEvents(_ events: [Event]) async throws
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
    /// Claims up to `limit` due pending events under a lease held by `owner`.
    func claimEvents(owner: String, leaseMillis: Int64, limit: Int, now: Millis) async throws -> [Event]
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

    // MARK: leases
    /// Extends the leases `owner` holds on the given events (work still in progress: a hook
    /// running, or an outcome waiting to be written), then returns to pending every lease,
    /// anyone's, that expired before `now`; in one transaction, so a lease being renewed is
    /// never rescued. Returns the number rescued.
    func keepLeases(owner: String, eventIDs: [String], until: Millis, rescueExpiredBefore now: Millis) async throws -> Int
    /// Puts the given (or all) events leased by `owner` back to pending, for another claim.
    func releaseLeases(owner: String, eventIDs: [String]?) async throws -> Int
    /// Releases every lease whose owner starts with `nodePrefix` but is not `current`: those of
    /// this node's earlier, dead incarnations.
    func releaseStaleLeases(nodePrefix: String, current: String) async throws -> Int
    /// Releases leases that expired before `now`, whoever held them.
    func rescueExpiredLeases(now: Millis) async throws -> Int

    // MARK: hooks
    func addHook(_ hook: Hook) async throws
    func replaceHook(_ hook: Hook) async throws
    func setHookEnabled(name: String, enabled: Bool) async throws
    func removeHook(name: String) async throws
    func hook(named name: String) async throws -> Hook?
    func listHooks(_ filter: HookFilter) async throws -> [Hook]
    /// Changes whenever any hook is added, changed or removed, by any process.
    func hooksVersion() async throws -> Int64
    func hookHistory(hookID: String, limit: Int, failedOnly: Bool) async throws -> [HookExecution]
    func hookStats(hookID: String) async throws -> HookStats

    // MARK: events: inspection and upkeep
    /// Finds the event whose id is `idOrPrefix` or starts with it; ambiguous prefixes are errors.
    func resolveEvent(_ idOrPrefix: String) async throws -> Event
    func listEvents(_ filter: EventFilter) async throws -> [Event]
    func executions(eventID: String) async throws -> [HookExecution]
    func deadLetters(eventID: String) async throws -> [DeadLetter]
    func deleteEvent(id: String) async throws
    func deleteEvents(olderThan: Millis, status: EventStatus?) async throws -> Int
    /// Re-arms a failed event: its dead-lettered hooks get a fresh set of attempts.
    func retryEvent(id: String, now: Millis) async throws
    func countEvents(status: EventStatus?) async throws -> Int

    // MARK: state shared by hooks of a stack
    func stateGet(stack: String, key: String, now: Millis) async throws -> JSONValue?
    func stateSet(stack: String, key: String, value: JSONValue, expiresAt: Millis?, now: Millis) async throws
    func stateDelete(stack: String, key: String) async throws -> Bool
    /// Adds `by` to an integer value (absent counts as 0) atomically; returns the new value.
    func stateIncrement(stack: String, key: String, by: Int64, now: Millis) async throws -> Int64
    /// Sets `value` only if the current value equals `expected` (nil: absent); atomically.
    func stateCompareAndSet(stack: String, key: String, expected: JSONValue?, value: JSONValue, expiresAt: Millis?, now: Millis) async throws -> Bool
    func stateEntries(stack: String?, prefix: String, now: Millis) async throws -> [StateEntry]
    func pruneExpiredState(now: Millis) async throws -> Int

    // MARK: secrets (stored sealed; the store never sees a key)
    func secretPut(name: String, sealed: SecretCipher.Sealed, now: Millis) async throws
    func secretGet(name: String) async throws -> SecretCipher.Sealed?
    func secretList() async throws -> [SecretInfo]
    func secretDelete(name: String) async throws -> Bool
    /// Deletes every secret and the key check (`secret reset`); returns how many were deleted.
    func secretDeleteAll() async throws -> Int

    // MARK: settings of the store itself
    func setting(_ key: String) async throws -> String?
    /// Stores `value` unless the key has one; returns the value stored now (either).
    func setSettingIfAbsent(_ key: String, value: String) async throws -> String
    func setSetting(_ key: String, value: String) async throws

    /// Fails when the store can no longer be trusted to hold what it writes (its file deleted
    /// or replaced); checked by a running engine every second.
    func verifyStorage() async throws

    func close() async
}

/// Where a worker leaves the outcome of an event whose insert may not have run yet.
public final class OutcomeSlot: Sendable {
    public enum State: Sendable {
        /// The insert has not run and no outcome has arrived.
        case waiting
        /// The outcome arrived first; the insert will write it.
        case outcome(EventOutcome)
        /// The insert wrote the outcome (kept, should the transaction be run again).
        case fused(EventOutcome)
        /// The insert ran first; the outcome must be recorded the ordinary way.
        case inserted
    }

    private let state = Mutex<State>(.waiting)
    /// Called when the insert takes the slot without an outcome: the event is written as
    /// `processing` under its lease (which must then be kept alive until the outcome lands).
    private let onPlainInsert: (@Sendable () -> Void)?

    public init(onPlainInsert: (@Sendable () -> Void)? = nil) {
        self.onPlainInsert = onPlainInsert
    }

    public var current: State { state.withLock { $0 } }

    /// The status the insert wrote, if it carried the outcome (without copying the outcome).
    public var fusedStatus: EventStatus? {
        state.withLock { s in
            if case .fused(let o) = s { return o.status }
            return nil
        }
    }

    /// True once an outcome is there for the insert to carry.
    public var hasOutcome: Bool {
        state.withLock { s in
            if case .outcome = s { return true }
            return false
        }
    }

    /// Offers an outcome; true when the insert will carry it, false when it must be recorded.
    public func offer(_ outcome: EventOutcome) -> Bool {
        state.withLock { s in
            if case .waiting = s {
                s = .outcome(outcome)
                return true
            }
            return false
        }
    }

    /// Called by the insert: the outcome to write with the row, if one is there.
    public func takeForInsert() -> EventOutcome? {
        let taken = state.withLock { s -> EventOutcome? in
            switch s {
            case .waiting, .inserted:
                s = .inserted
                return nil
            case .outcome(let o), .fused(let o):
                s = .fused(o)
                return o
            }
        }
        if taken == nil { onPlainInsert?() }
        return taken
    }
}

/// What became of one outcome in `recordOutcomes`.
public enum OutcomeWrite: Sendable, Equatable {
    case recorded
    /// Another claim owns the event now (the lease was rescued or released); nothing written.
    case superseded
    /// This outcome could not be written (the others of its batch were); it may be retried.
    case failed(String)
}

extension EventStore {
    /// Records one outcome; true when it was written, false when superseded.
    public func recordOutcome(_ outcome: EventOutcome) async throws -> Bool {
        switch try await recordOutcomes([outcome])[0] {
        case .recorded: return true
        case .superseded: return false
        case .failed(let message): throw SlothError.storage(message)
        }
    }
}

public struct SecretInfo: Sendable, Equatable {
    public var name: String
    public var createdAt: Millis
    public var updatedAt: Millis
}

public struct StateEntry: Sendable, Equatable {
    public var stack: String
    public var key: String
    public var value: JSONValue
    public var expiresAt: Millis?
    public var updatedAt: Millis
}

public struct HookFilter: Sendable {
    public var stack: String?
    public var eventType: String?
    public var enabled: Bool?
    public init(stack: String? = nil, eventType: String? = nil, enabled: Bool? = nil) {
        self.stack = stack
        self.eventType = eventType
        self.enabled = enabled
    }
}

public struct EventFilter: Sendable {
    public var type: String?
    public var status: EventStatus?
    public var stack: String?
    public var since: Millis?
    public var limit: Int
    public init(type: String? = nil, status: EventStatus? = nil, stack: String? = nil, since: Millis? = nil, limit: Int = 50) {
        self.type = type
        self.status = status
        self.stack = stack
        self.since = since
        self.limit = limit
    }
}

public struct HookStats: Sendable, Equatable {
    /// The runs statistics cover: the most recent ones, up to this many.
    public static let window = 1000
    public var executions: Int
    public var successes: Int
    public var p50Millis: Int64?
    public var p95Millis: Int64?
    public var successRate: Double? { executions == 0 ? nil : Double(successes) / Double(executions) }
}

/// Per event, the state of each hook across claims.
public struct HookProgress: Sendable, Equatable {
    public var succeeded: Set<String> = []
    /// Failed attempts so far, per hook id.
    public var failedAttempts: [String: Int] = [:]
    public var dead: Set<String> = []
    public init() {}
}

/// What one processing of a claimed event produced; written atomically.
/// What processing an event came to, as one write. A class: it is handed from the hook's
/// thread to the writer (and kept for a transaction that must run again), and copying it field
/// by field costs a retain per field each time. Immutable, so sharing it is safe.
public final class EventOutcome: Sendable {
    public let eventID: String
    public let leaseOwner: String
    /// The claim this outcome belongs to (the event's `attempts` when it was claimed).
    public let claimAttempt: Int
    public let status: EventStatus
    public let error: String?
    public let processedAt: Millis?
    public let nextRunAt: Millis
    public let executions: [HookExecution]
    public let attemptUpdates: [HookAttemptUpdate]

    public init(
        eventID: String, leaseOwner: String, claimAttempt: Int, status: EventStatus, error: String?,
        processedAt: Millis?, nextRunAt: Millis, executions: [HookExecution], attemptUpdates: [HookAttemptUpdate]
    ) {
        self.eventID = eventID
        self.leaseOwner = leaseOwner
        self.claimAttempt = claimAttempt
        self.status = status
        self.error = error
        self.processedAt = processedAt
        self.nextRunAt = nextRunAt
        self.executions = executions
        self.attemptUpdates = attemptUpdates
    }
}

public struct HookAttemptUpdate: Sendable, Equatable {
    public var hookID: String
    public var hookName: String
    public var attempts: Int
    public var dead: Bool
    public var lastError: String?
    public init(hookID: String, hookName: String, attempts: Int, dead: Bool, lastError: String?) {
        self.hookID = hookID
        self.hookName = hookName
        self.attempts = attempts
        self.dead = dead
        self.lastError = lastError
    }
}
