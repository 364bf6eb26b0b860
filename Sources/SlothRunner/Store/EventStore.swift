import Synchronization

/// What an embedding program sees of a store: hooks, events and their executions, shared state
/// and secret names, cleanup. `SQLiteEventStore` is the one store today; a PostgreSQL store
/// will be another. The engine needs more of a store (claims, leases, outcomes): that part is
/// `EventStoreDriver`, which stays inside the package.
public protocol EventStore: Sendable {
    // MARK: events
    /// Commits the events, pending, for any engine serving the store; returns once they are
    /// durable. Concurrent calls share a commit. (`Engine.dispatch` validates and stores one.)
    func insertEvents(_ events: [Event]) async throws
    /// Finds the event whose id is `idOrPrefix` or starts with it; an unknown id is
    /// `SlothError.notFound`, an ambiguous prefix `SlothError.ambiguous`.
    func resolveEvent(_ idOrPrefix: String) async throws -> Event
    /// Events matching the filter, newest first, at most `filter.limit`.
    func listEvents(_ filter: EventFilter) async throws -> [Event]
    /// Every hook run recorded for an event, in the order they ran.
    func executions(eventID: String) async throws -> [HookExecution]
    /// The hooks that gave up on an event after their last attempt.
    func deadLetters(eventID: String) async throws -> [DeadLetter]
    /// Deletes one event with its executions and dead letters.
    func deleteEvent(id: String) async throws
    /// Deletes events created before the cutoff with `status` (nil: the finished ones, completed
    /// and failed), with their executions, in small batches so a running engine is not held up;
    /// returns how many.
    func deleteEvents(olderThan: Millis, status: EventStatus?) async throws -> Int
    /// Re-arms a failed event: its dead-lettered hooks get a fresh set of attempts.
    func retryEvent(id: String, now: Millis) async throws
    /// How many events there are (with `status`, if given).
    func countEvents(status: EventStatus?) async throws -> Int

    // MARK: hooks
    /// Stores a new hook; a name already taken is `SlothError.conflict`.
    func addHook(_ hook: Hook) async throws
    /// Replaces the hook of the same name, keeping its history.
    func replaceHook(_ hook: Hook) async throws
    func setHookEnabled(name: String, enabled: Bool) async throws
    /// Removes a hook and its history.
    func removeHook(name: String) async throws
    /// The hook of that name, or nil.
    func hook(named name: String) async throws -> Hook?
    /// Hooks matching the filter, by name.
    func listHooks(_ filter: HookFilter) async throws -> [Hook]
    /// A hook's most recent runs, newest first.
    func hookHistory(hookID: String, limit: Int, failedOnly: Bool) async throws -> [HookExecution]
    /// Success rate and duration percentiles over the hook's last `HookStats.window` runs.
    func hookStats(hookID: String) async throws -> HookStats

    // MARK: state shared by the hooks of a stack
    /// The value under `key`, unless absent or expired at `now`.
    func stateGet(stack: String, key: String, now: Millis) async throws -> JSONValue?
    /// Sets `key`, expiring at `expiresAt` if given.
    func stateSet(stack: String, key: String, value: JSONValue, expiresAt: Millis?, now: Millis) async throws
    /// Deletes `key`; true if it was there.
    func stateDelete(stack: String, key: String) async throws -> Bool
    /// Live entries whose key starts with `prefix` (of one stack, or of all).
    func stateEntries(stack: String?, prefix: String, now: Millis) async throws -> [StateEntry]

    // MARK: secrets (values are set and read through `SecretVault`, sealed)
    /// Names and dates of the stored secrets; never values.
    func secretList() async throws -> [SecretInfo]
    /// Deletes a secret; true if it was there.
    func secretDelete(name: String) async throws -> Bool

    /// Finishes pending writes and closes the store.
    func close() async
}

/// The part of a store only the engine and the package's own tools use: claiming events under
/// leases, recording outcomes, the settings of the store itself. Every store implements it; the
/// shared behaviour suite (`EventStoreBehaviourTests`) runs against every implementation.
package protocol EventStoreDriver: EventStore {
    /// Starts telling `onWrite` when another process may have written to the store (for
    /// SQLite: an inotify watch on the database and its WAL; for PostgreSQL: `LISTEN` on the
    /// channel every commit notifies); nil when the store cannot tell, and the engine then
    /// polls at its poll interval. The returned watch stops with `stop()`.
    func watchWrites(_ onWrite: @escaping @Sendable () -> Void) -> (any StoreWriteWatch)?
    /// Whether each `watchWrites` signal is one commit (PostgreSQL's NOTIFY), so the engine may
    /// claim on every one; false when signals are file writes, many per commit (SQLite's
    /// inotify), and only a quiet store's first one wakes it.
    var writeSignalsAreCommits: Bool { get }
    /// How many dead letters there are (event-hook pairs that gave up), for `status`.
    func countDeadLetters() async throws -> Int
    /// What the store occupies on disk, in bytes (for SQLite: the database and its WAL).
    func storageBytes() async throws -> Int64

    // MARK: API tokens (only their hashes)
    /// Stores a token; a name already taken is `SlothError.conflict`.
    func tokenCreate(_ token: APIToken, hash: String) async throws
    func tokenList() async throws -> [APIToken]
    /// Marks a token revoked; false if there is no such (unrevoked) token.
    func tokenRevoke(name: String, now: Millis) async throws -> Bool
    /// Every live token by its hash: what the server checks requests against, reloaded on a
    /// short tick rather than read per request.
    func liveTokens() async throws -> [String: APIToken]
    /// Whether any unrevoked token exists (without one, the API is open on loopback).
    func hasLiveTokens() async throws -> Bool

    /// The events hook runs of `eventID` dispatched, oldest first, at most `limit`.
    func childEvents(of eventID: String, limit: Int) async throws -> [Event]
    /// Events created since `since`, counted per `bucketMillis` (bucket start, total, failed).
    func activity(since: Millis, bucketMillis: Int64) async throws -> [(start: Millis, total: Int, failed: Int)]

    // MARK: the change journal (`GET /stream`)
    /// Journal entries after `seq`, oldest first, at most `limit`, each with its event as it is
    /// now and, for a hook run, the execution. Entries whose event was swept away since are
    /// still returned (without `event`).
    func changes(after seq: Int64, limit: Int) async throws -> [EventChange]
    /// The journal's first and last numbers (nil, nil when empty): a client asking for
    /// everything after a number below `first - 1` missed entries that were pruned.
    func changeBounds() async throws -> (first: Int64?, last: Int64?)
    /// Deletes journal entries older than `cutoff`, never the newest (numbers must not go back).
    func pruneChanges(olderThan cutoff: Millis) async throws -> Int

    // MARK: schedules (the scheduler source)
    /// Stores a schedule; a name already taken is `SlothError.conflict`.
    func scheduleAdd(_ schedule: Schedule) async throws
    func schedule(named name: String) async throws -> Schedule?
    func scheduleList() async throws -> [Schedule]
    /// Removes a schedule; false if there was none.
    func scheduleRemove(name: String) async throws -> Bool
    /// Enables or disables a schedule; enabling moves its `firedThrough` to `now`, so the slots
    /// of the time it was off are not caught up. False if there is none.
    func scheduleSetEnabled(name: String, enabled: Bool, now: Millis) async throws -> Bool
    /// In one transaction: when the schedule is enabled and handled exactly through `from`,
    /// moves it to `through` and stores `events` (pending); otherwise stores nothing and returns
    /// false (another scheduler or a CLI change came first). A slot thus fires once, whatever
    /// crashes.
    func scheduleFire(name: String, from: Millis, through: Millis, events: [Event]) async throws -> Bool
    /// Makes the store's schedules match those a config file declares (as `webhookSync`); a
    /// schedule declared again unchanged keeps its id and where it is up to (its mark), one
    /// whose definition changed keeps them too, so no slot fires twice.
    func scheduleSync(declared: [Schedule]) async throws -> (added: [String], changed: [String], removed: [String])
    /// Bumped by every schedule change but firing: a running scheduler polls it cheaply.
    func schedulesVersion() async throws -> Int64

    // MARK: health checks (the checks source)
    /// Stores a check; a name already taken is `SlothError.conflict`.
    func checkAdd(_ check: HealthCheck) async throws
    func check(named name: String) async throws -> HealthCheck?
    func checkList() async throws -> [HealthCheck]
    /// Removes a check; false if there was none.
    func checkRemove(name: String) async throws -> Bool
    /// Makes the store's checks match those a config file declares, in one transaction (as
    /// `webhookSync`): adds and changes them, removes the ones declared before and no longer.
    func checkSync(declared: [HealthCheck]) async throws -> (added: [String], changed: [String], removed: [String])
    /// Bumped by every change: a running checks source polls it cheaply.
    func checksVersion() async throws -> Int64

    // MARK: file watches (the watcher source)
    /// Stores a watch; a name already taken is `SlothError.conflict`.
    func watchAdd(_ watch: FileWatch) async throws
    func watch(named name: String) async throws -> FileWatch?
    func watchList() async throws -> [FileWatch]
    /// Removes a watch and its snapshot; false if there was none.
    func watchRemove(name: String) async throws -> Bool
    /// Makes the store's watches match those a config file declares (as `webhookSync`).
    func watchSync(declared: [FileWatch]) async throws -> (added: [String], changed: [String], removed: [String])
    /// Bumped by every change: a running watcher polls it cheaply.
    func watchesVersion() async throws -> Int64
    /// A watch's snapshot: what it last knew of each path; nil if it never took one.
    func watchSnapshot(_ watch: String) async throws -> [String: WatchedFile]?
    /// Updates a watch's snapshot in one transaction: sets `changed`, deletes `removed`
    /// (with `replace`, the snapshot becomes exactly `changed`).
    func watchSnapshotApply(_ watch: String, changed: [String: WatchedFile], removed: [String], replace: Bool) async throws

    // MARK: what the daemon's event sources report (`sloth-runner sources`)
    /// Replaces every row with `statuses` (the running daemon's sources, as they are now).
    func sourceStatusReplace(_ statuses: [SourceStatus]) async throws
    func sourceStatusList() async throws -> [SourceStatus]

    // MARK: webhooks
    /// Stores a webhook; a name already taken is `SlothError.conflict`.
    func webhookAdd(_ webhook: Webhook) async throws
    func webhook(named name: String) async throws -> Webhook?
    func webhookList() async throws -> [Webhook]
    /// Removes a webhook; false if there was none.
    func webhookRemove(name: String) async throws -> Bool
    /// Makes the store's webhooks match those a config file declares, in one transaction:
    /// adds and changes them (one added with `webhook add` under the same name is taken over),
    /// removes the ones declared before and no longer. Returns the names by what happened.
    func webhookSync(declared: [Webhook]) async throws -> (added: [String], changed: [String], removed: [String])
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
    /// Changes whenever any hook is added, changed or removed, by any process.
    func hooksVersion() async throws -> Int64
    /// Adds `by` to an integer value (absent counts as 0) atomically; returns the new value.
    func stateIncrement(stack: String, key: String, by: Int64, now: Millis) async throws -> Int64
    /// Sets `value` only if the current value equals `expected` (nil: absent); atomically.
    func stateCompareAndSet(stack: String, key: String, expected: JSONValue?, value: JSONValue, expiresAt: Millis?, now: Millis) async throws -> Bool
    func pruneExpiredState(now: Millis) async throws -> Int
    func secretPut(name: String, sealed: SecretCipher.Sealed, now: Millis) async throws
    func secretGet(name: String) async throws -> SecretCipher.Sealed?
    /// Deletes every secret and the key check (`secret reset`); returns how many were deleted.
    func secretDeleteAll() async throws -> Int
    func setting(_ key: String) async throws -> String?
    /// Stores `value` unless the key has one; returns the value stored now (either).
    func setSettingIfAbsent(_ key: String, value: String) async throws -> String
    func setSetting(_ key: String, value: String) async throws
    /// Fails when the store can no longer be trusted to hold what it writes (its file deleted
    /// or replaced); checked by a running engine every second.
    func verifyStorage() async throws
    /// How many events match `filter`, counting at most `cap` (a listing says "showing 50 of
    /// 111", or "of more than 10000", without counting millions of rows to say it).
    func countEvents(_ filter: EventFilter, cap: Int) async throws -> Int
    /// What `deleteEvents(olderThan:status:)` would delete.
    func countEvents(olderThan cutoff: Millis, status: EventStatus?) async throws -> Int
    /// Closes the store without waiting (for a command about to exit; every write it made has
    /// already returned, so none is pending).
    func closeNow()

    // MARK: nodes (the engines serving the store)
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

    // MARK: duties only one node runs
    /// Takes or renews the lease of duty `name` for `owner` until `until`: granted when nobody
    /// holds it, the holder is `owner`, or the holder's lease expired before `now`.
    func singletonAcquire(name: String, owner: String, until: Millis, now: Millis) async throws -> Bool
    /// Gives the lease up (a clean shutdown), so another node takes it at once.
    func singletonRelease(name: String, owner: String) async throws
    func singletonList() async throws -> [SingletonLease]

    // MARK: storm control (`StormGate` holds the rules; the store keeps the state atomically)
    /// The hooks storm control settled for an event without a run (throttled, debounced).
    func skips(eventID: String) async throws -> [HookSkip]
    /// A control's state for one group of a hook, unless absent or expired at `now`.
    func controlState(hookID: String, control: String, group: String, now: Millis) async throws -> ControlState?
    /// Compare-and-set: when the row's version is `expected` (nil: the row is absent or expired
    /// at `now`), sets `value` (nil: deletes the row) with a new version; false when another
    /// writer came first. A hook's rows go with the hook.
    func controlStateSwap(hookID: String, control: String, group: String, expected: Int64?, value: JSONValue?, expiresAt: Millis?, now: Millis) async throws -> Bool
    /// Every live row of a hook's controls (`hook get`, `events explain`).
    func controlStates(hookID: String, now: Millis) async throws -> [ControlState]
    /// Deletes rows expired before `now`; returns how many.
    func pruneControlStates(now: Millis) async throws -> Int

    // MARK: the effect journal (`effects = "once"`)
    /// What hooks with `effects = "once"` recorded for an event (of one hook, or of all), by position.
    func effectJournal(eventID: String, hookID: String?) async throws -> [EffectRecord]
    /// Keeps (or replaces, at its position) what a completed call returned.
    func recordEffect(_ record: EffectRecord) async throws
    /// Counts a reuse of the record at `position`.
    func noteEffectReused(eventID: String, hookID: String, position: Int) async throws
}

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

extension EventStoreDriver {
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
