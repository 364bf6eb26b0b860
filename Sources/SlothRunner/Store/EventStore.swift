import Synchronization

/// What an embedding program sees of a store: the queue, the history, the hooks, shared state
/// and secret names. Each part is a protocol of its own (`Roles/`), so code that needs one part
/// asks for that part; a store implements them all. `SQLiteEventStore` is the embedded
/// default, `PostgresEventStore` (module `SlothRunnerPostgres`) the one for many nodes.
public protocol EventStore: EventQueueStore, EventHistoryStore, HookRegistryStore, SharedStateStore, SecretStore {
    /// Finishes pending writes and closes the store.
    func close() async
}

/// Everything a store driver implements: the public parts, and those only the engine and the
/// package's own tools use — claims under leases and outcomes, the history's counts, the hooks'
/// version, atomic state, sealed secrets, settings and upkeep, tokens, the change journal, the
/// sources' definitions, webhooks, the node registry, storm control and the effect journal.
/// Each driver implements the parts one file each; the shared behaviour suite
/// (`EventStoreBehaviourTests`) runs against every driver. Code that needs only some parts
/// takes those (`StormGate` a `StormControlStore`, `SecretVault` a `SealedSecretStore &
/// StoreSettings`), so what it can touch is visible in its type.
package protocol EventStoreDriver:
    EventStore, LeasedQueueStore, HistoryQueryStore, VersionedHookRegistry, AtomicStateStore, SealedSecretStore,
    StoreSettings, StoreUpkeep, TokenStore, ChangeJournalStore, ScheduleStore, HealthCheckStore, FileWatchStore,
    WebhookStore, SourceStatusStore, NodeRegistryStore, StormControlStore, EffectJournalStore {}

/// Resolving an event id or prefix, the same for every driver: what a prefix must look like,
/// and which of the (at most six, by id) events starting with it is meant.
package enum EventPrefix {
    /// The prefix to look up (lower-cased), or why `text` cannot be one.
    package static func needle(_ text: String) throws(SlothError) -> String {
        let needle = text.lowercased()
        guard !needle.isEmpty, needle.allSatisfy({ $0.isHexDigit || $0 == "-" }) else {
            throw .invalidInput("'\(text)' is not an event id: ids look like 019abc12-3456-7def-8abc-0123456789ab (any unique prefix works)")
        }
        return needle
    }

    /// The event `text` names among `matches` (those whose id starts with `needle`, by id).
    package static func pick(_ matches: [Event], needle: String, asked text: String) throws(SlothError) -> Event {
        if matches.isEmpty { throw .notFound("no event with id or prefix '\(text)' (see `sloth-runner events list`)") }
        if let exact = matches.first(where: { $0.id == needle }) { return exact }
        if matches.count > 1 {
            let shown = matches.prefix(5).map { "  \($0.id)  \($0.type)" }.joined(separator: "\n")
            throw .ambiguous("event id prefix '\(text)' matches more than one event; give more characters:\n\(shown)\(matches.count > 5 ? "\n  ..." : "")")
        }
        return matches[0]
    }
}

/// A running watch of a store's writes (`EventStoreDriver.watchWrites`).
package protocol StoreWriteWatch: Sendable {
    func stop()
}

extension Inotify: StoreWriteWatch {}

/// Where a worker leaves the outcome of an event whose insert may not have run yet.
package final class OutcomeSlot: Sendable {
    package enum State: Sendable {
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

    package init(onPlainInsert: (@Sendable () -> Void)? = nil) {
        self.onPlainInsert = onPlainInsert
    }

    package var current: State { state.withLock { $0 } }

    /// The status the insert wrote, if it carried the outcome (without copying the outcome).
    package var fusedStatus: EventStatus? {
        state.withLock { s in
            if case .fused(let o) = s { return o.status }
            return nil
        }
    }

    /// True once an outcome is there for the insert to carry.
    package var hasOutcome: Bool {
        state.withLock { s in
            if case .outcome = s { return true }
            return false
        }
    }

    /// Offers an outcome; true when the insert will carry it, false when it must be recorded.
    package func offer(_ outcome: EventOutcome) -> Bool {
        state.withLock { s in
            if case .waiting = s {
                s = .outcome(outcome)
                return true
            }
            return false
        }
    }

    /// Called by the insert: the outcome to write with the row, if one is there.
    package func takeForInsert() -> EventOutcome? {
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
package enum OutcomeWrite: Sendable, Equatable {
    case recorded
    /// Another claim owns the event now (the lease was rescued or released); nothing written.
    case superseded
    /// This outcome could not be written (the others of its batch were); it may be retried.
    case failed(String)
}

/// A stored secret as listings show it: its name and dates, never its value.
public struct SecretInfo: Sendable, Equatable {
    /// The secret's name.
    public var name: String
    /// When it was first set and last changed, in Unix milliseconds.
    public var createdAt: Millis
    public var updatedAt: Millis

    package init(name: String, createdAt: Millis, updatedAt: Millis) {
        self.name = name
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// One key of the shared state (`state.*` in hooks, `sloth-runner state`).
public struct StateEntry: Sendable, Equatable {
    /// The stack it belongs to ("" for hooks without one) and its key.
    public var stack: String
    public var key: String
    /// Its value.
    public var value: JSONValue
    /// When it expires, if it does; when it was last set.
    public var expiresAt: Millis?
    public var updatedAt: Millis

    package init(stack: String, key: String, value: JSONValue, expiresAt: Millis?, updatedAt: Millis) {
        self.stack = stack
        self.key = key
        self.value = value
        self.expiresAt = expiresAt
        self.updatedAt = updatedAt
    }
}

/// Which hooks `EventStore.listHooks` returns; nil fields match everything.
public struct HookFilter: Sendable {
    /// Hooks bound to this stack.
    public var stack: String?
    /// Hooks that would run for an event of this type (their patterns are matched).
    public var eventType: String?
    /// Only enabled, or only disabled, hooks.
    public var enabled: Bool?
    /// A filter; with no arguments, every hook.
    public init(stack: String? = nil, eventType: String? = nil, enabled: Bool? = nil) {
        self.stack = stack
        self.eventType = eventType
        self.enabled = enabled
    }
}

/// Which events `EventStore.listEvents` returns; nil fields match everything.
public struct EventFilter: Sendable {
    /// Events of this type (a pattern such as `task.*` is not taken here: exact types only).
    public var type: String?
    /// Events in this status.
    public var status: EventStatus?
    /// Events of this stack.
    public var stack: String?
    /// Events created at or after this moment (Unix milliseconds).
    public var since: Millis?
    /// Events created before this moment (Unix milliseconds).
    public var until: Millis?
    /// Events older than the one with this id: the cursor of a paged listing (the last id of
    /// the previous page). Ids are unique and ordered, so pages neither repeat nor skip.
    public var before: String?
    /// Replays of the event with this id (`events show` lists them).
    public var replayOf: String?
    /// At most this many (newest first).
    public var limit: Int
    /// A filter; with no arguments, the newest 50 events.
    public init(
        type: String? = nil, status: EventStatus? = nil, stack: String? = nil, since: Millis? = nil, until: Millis? = nil,
        before: String? = nil, replayOf: String? = nil, limit: Int = 50
    ) {
        self.type = type
        self.status = status
        self.stack = stack
        self.since = since
        self.until = until
        self.before = before
        self.replayOf = replayOf
        self.limit = limit
    }
}

/// A hook's record over its most recent runs (`hook get`).
public struct HookStats: Sendable, Equatable {
    /// The runs statistics cover: the most recent ones, up to this many.
    public static let window = 1000
    /// Runs in the window, and how many succeeded.
    public var executions: Int
    public var successes: Int
    /// Median and 95th-percentile duration of those runs.
    public var p50Millis: Int64?
    public var p95Millis: Int64?
    /// Successes over runs (nil with no runs).
    public var successRate: Double? { executions == 0 ? nil : Double(successes) / Double(executions) }

    package init(executions: Int, successes: Int, p50Millis: Int64?, p95Millis: Int64?) {
        self.executions = executions
        self.successes = successes
        self.p50Millis = p50Millis
        self.p95Millis = p95Millis
    }
}

/// Per event, the state of each hook across claims.
package struct HookProgress: Sendable, Equatable {
    package var succeeded: Set<String> = []
    /// Failed attempts so far, per hook id.
    package var failedAttempts: [String: Int] = [:]
    package var dead: Set<String> = []
    /// Hooks storm control settled without a run (throttled, debounced).
    package var skipped: Set<String> = []
    package init() {}
}

/// What one processing of a claimed event produced; written atomically.
/// What processing an event came to, as one write. A class: it is handed from the hook's
/// thread to the writer (and kept for a transaction that must run again), and copying it field
/// by field costs a retain per field each time. Immutable, so sharing it is safe.
package final class EventOutcome: Sendable {
    package let eventID: String
    package let leaseOwner: String
    /// The claim this outcome belongs to (the event's `attempts` when it was claimed).
    package let claimAttempt: Int
    package let status: EventStatus
    package let error: String?
    package let processedAt: Millis?
    package let nextRunAt: Millis
    package let executions: [HookExecution]
    package let attemptUpdates: [HookAttemptUpdate]
    /// The tags the event waits for (a hook of it needs a node so tagged, and this one is not);
    /// nil: none, and a previous wait is over.
    package let needsTags: [String]?
    /// Hooks storm control settled without a run in this claim.
    package let skips: [HookSkip]

    package init(
        eventID: String, leaseOwner: String, claimAttempt: Int, status: EventStatus, error: String?,
        processedAt: Millis?, nextRunAt: Millis, executions: [HookExecution], attemptUpdates: [HookAttemptUpdate],
        needsTags: [String]? = nil, skips: [HookSkip] = []
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
        self.needsTags = needsTags
        self.skips = skips
    }
}

package struct HookAttemptUpdate: Sendable, Equatable {
    package var hookID: String
    package var hookName: String
    package var attempts: Int
    package var dead: Bool
    package var lastError: String?
    package init(hookID: String, hookName: String, attempts: Int, dead: Bool, lastError: String?) {
        self.hookID = hookID
        self.hookName = hookName
        self.attempts = attempts
        self.dead = dead
        self.lastError = lastError
    }
}

extension StateEntry {
    /// As `state list -o json` prints it.
    package var json: JSONValue {
        var o: [String: JSONValue] = ["stack": .string(stack), "key": .string(key), "value": value]
        JSONValue.stamp(&o, "expires_at", expiresAt)
        JSONValue.stamp(&o, "updated_at", updatedAt)
        return .object(o)
    }
}

extension SecretInfo {
    /// As `secret list -o json` prints it: name and dates, never the value.
    package var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name)]
        JSONValue.stamp(&o, "created_at", createdAt)
        JSONValue.stamp(&o, "updated_at", updatedAt)
        return .object(o)
    }
}
