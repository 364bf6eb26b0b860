import Foundation
import Logging
import Synchronization

/// The event engine: accepts events durably, claims them under leases, runs every matching
/// hook in the Lua runtime and records each outcome with a compare-and-set.
///
/// Embeddable: `Engine(store:runtime:configuration:)`, `start()`, `dispatch(_:)`, `drain(grace:)`.
public final class Engine: Sendable {
    /// The store the engine serves, as an embedding program may use it (inspection, hooks).
    public var store: any EventStore { driver }
    /// The same store, with the operations only the engine uses (claims, leases, outcomes).
    package let driver: any EventStoreDriver
    /// The runtime every hook runs in.
    public let runtime: LuaRuntime
    /// The settings the engine was made with.
    public let configuration: EngineConfiguration
    /// This incarnation's lease owner: `node/unique`, so a restart can tell its own old leases.
    public let owner: String

    private let queue: RunQueue
    private let wakeup = Wakeup()
    private let idle = Wakeup()
    private let hooks = Mutex<(version: Int64, all: [LiveHook])>((-1, []))
    /// A `Phase` raw value; read on every dispatch and outcome, so an atomic rather than a lock.
    private let phaseValue = Atomic<UInt8>(Phase.stopped.rawValue)
    /// Events taken by a worker whose outcome is not yet recorded.
    private let inFlight = Atomic<Int>(0)
    /// Events finished per second over the last minute (`status`).
    private let recentlyFinished = RecentRate()
    let metrics = EngineMetrics()
    /// When `start()` ran, for the uptime `status` reports.
    private let startedAt = Atomic<Int64>(0)
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let storeMayHavePending = Atomic<Bool>(true)
    /// Root events this engine stored pending and has not claimed yet: a count, not a set (a
    /// backlog of a million costs nothing), so events from another process are told apart in
    /// aggregate when claims count `sloth_events_accepted_total{source="cli"}`.
    private let pendingStoredHere = Mutex<Int>(0)
    /// When the store last told of a write (another process's, or ours), and the watch that
    /// tells: while the store is quiet the engine polls it once a second instead of every
    /// `pollMillis`, and a write wakes it at once.
    private let lastStoreWrite = Atomic<Int64>(0)
    private let storeWatch = Mutex<(any StoreWriteWatch)?>(nil)
    private let lastHookRefresh = Atomic<Int64>(0)
    /// How long after a write the engine keeps its short poll, and how long it waits on a
    /// quiet store. A commit becomes visible to readers only after its last write (the WAL
    /// index is shared memory, which inotify does not see), so a writer descheduled in between
    /// must not leave its event waiting for the quiet poll: two seconds of short polls cover it.
    static let recentWriteMillis: Int64 = 2000
    static let quietPollMillis: Int64 = 1000

    /// Whether the store was written to within `recentWriteMillis`, or cannot tell: what
    /// caches of the store's contents (hooks here; tokens and webhooks in the server) ask
    /// before reloading on their short tick.
    package var storeRecentlyWritten: Bool {
        storeWatch.withLock { $0 == nil } || nowMillis() - lastStoreWrite.load(ordering: .relaxed) <= Self.recentWriteMillis
    }

    /// Notes root events stored pending by this process (see `pendingStoredHere`).
    func notePendingStoredHere(_ n: Int) {
        guard n > 0 else { return }
        pendingStoredHere.withLock { $0 += n }
    }
    private let claimErrors = ThrottledError(what: "claiming events")
    private let recorder: OutcomeRecorder
    /// Storm control's rules over the store's state.
    let gate: StormGate
    /// Events whose row is `processing` under this engine's lease while their work goes on (a
    /// hook running, an outcome waiting to be written): the leases renewal keeps alive, and
    /// the only ones. Events written once, in their final state, never enter it.
    let leaseBook = LeaseBook()

    enum Phase: UInt8 { case stopped, running, draining }

    private var phase: Phase { Phase(rawValue: phaseValue.load(ordering: .acquiring)) ?? .stopped }

    /// An engine on a SQLite store. Nothing runs until `start()`.
    public convenience init(store: SQLiteEventStore, runtime: LuaRuntime, configuration: EngineConfiguration = EngineConfiguration()) {
        self.init(driver: store, runtime: runtime, configuration: configuration)
    }

    /// An engine on any store of the package (the SQLite one, later PostgreSQL).
    package init(driver: any EventStoreDriver, runtime: LuaRuntime, configuration: EngineConfiguration = EngineConfiguration()) {
        self.driver = driver
        self.runtime = runtime
        self.configuration = configuration
        self.owner = "\(configuration.nodeID)/\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        self.queue = RunQueue(capacity: configuration.queueCapacity, workers: configuration.workers)
        self.recorder = OutcomeRecorder(store: driver, observer: configuration.observer, logger: configuration.logger)
        self.gate = StormGate(store: driver)
    }

    // MARK: life cycle

    /// Reclaims this node's leases from earlier runs, loads hooks, starts claiming and duties.
    public func start() async throws {
        try configuration.validate()
        startedAt.store(nowMillis(), ordering: .relaxed)
        let reclaimed = try await driver.releaseStaleLeases(nodePrefix: configuration.nodeID + "/", current: owner)
        if reclaimed > 0 {
            configuration.logger.notice("took back \(reclaimed) event(s) an earlier run of this node had claimed", metadata: ["node": "\(configuration.nodeID)"])
        }
        try await refreshHooks(force: true)
        let everyCommit = driver.writeSignalsAreCommits
        let watch = driver.watchWrites { [weak self] in
            guard let self else { return }
            // Only a quiet store's first write wakes the claimer: while writes go on it polls
            // at its usual interval, as it always did (a busy store's file writes would
            // otherwise wake it hundreds of times a second). A store that signals once per
            // commit (PostgreSQL) wakes it on each: another node's event starts at once.
            let now = nowMillis()
            let before = self.lastStoreWrite.exchange(now, ordering: .relaxed)
            if everyCommit || now - before > Self.recentWriteMillis { self.wakeup.signal() }
        }
        storeWatch.withLock { $0 = watch }
        phaseValue.store(Phase.running.rawValue, ordering: .releasing)
        var started: [Task<Void, Never>] = []
        if configuration.claimsFromStore {
            started.append(Task { await self.claimLoop() })
        }
        let lease = configuration.leaseMillis
        if configuration.claimsFromStore {
            // Registered before the first claim, so `nodes` lists a node as soon as it works.
            try? await driver.nodeHeartbeat(nodeInfo(at: nowMillis()))
        }
        var duties: [any EngineDuty] = [
            LeaseKeeper(intervalMillis: max(50, lease / 3), rescues: configuration.claimsFromStore),
            HookRefresh(intervalMillis: 100),
            StorageWatch(intervalMillis: 1000),
        ]
        if configuration.claimsFromStore {
            duties.append(NodeHeartbeat(intervalMillis: max(100, lease / 3)))
            duties.append(RetentionPruner(intervalMillis: 600_000, completedMillis: configuration.retainCompletedMillis, failedMillis: configuration.retainFailedMillis, changesMillis: configuration.retainChangesMillis))
        }
        for duty in duties {
            started.append(Task { await self.dutyLoop(duty) })
        }
        tasks.withLock { $0 = started }
    }

    /// How a drain ended.
    public struct DrainReport: Sendable {
        /// Every hook in flight finished within the grace period.
        public var finished: Bool
        /// Claimed events handed back to the store for a later claim.
        public var released: Int
        /// `stopWaiting()` ended the grace period early.
        public var cutShort = false
    }

    private let impatient = Atomic<Bool>(false)

    /// Ends a drain's grace period now (a second Ctrl-C): hooks still running are abandoned and
    /// their events handed back, as when the grace period runs out.
    public func stopWaiting() {
        impatient.store(true, ordering: .releasing)
        idle.signal()
    }

    /// Stops intake, lets hooks in flight finish for up to `grace` seconds, then hands every
    /// unfinished claim back to the store. Nothing accepted is lost.
    public func drain(grace: Double) async -> DrainReport {
        let wasRunning = phaseValue.compareExchange(
            expected: Phase.running.rawValue, desired: Phase.draining.rawValue, ordering: .acquiringAndReleasing
        ).exchanged
        guard wasRunning else { return DrainReport(finished: true, released: 0) }
        storeWatch.withLock { $0?.stop(); $0 = nil }
        let queued = queue.close()
        var released = 0
        if !queued.isEmpty {
            released += (try? await driver.releaseLeases(owner: owner, eventIDs: queued.map(\.id))) ?? 0
            leaseBook.remove(queued.map(\.id))
            queue.release(queued.count)
        }
        let deadline = monotonicSeconds() + grace
        while inFlight.load(ordering: .acquiring) > 0 && monotonicSeconds() < deadline && !impatient.load(ordering: .acquiring) {
            await idle.wait(millis: Int64(max(1, min(100, (deadline - monotonicSeconds()) * 1000))))
        }
        // Outcomes that still could not be written are given up on: their leases lapse and the
        // events are claimed again later (at least once).
        recorder.stop()
        let unfinished = inFlight.load(ordering: .acquiring) > 0
        if unfinished {
            // Every claim of this incarnation still open is one of those hooks: hand them all back.
            // A hook that ends later finds its lease gone and records nothing (at least once).
            released += (try? await driver.releaseLeases(owner: owner, eventIDs: nil)) ?? 0
        }
        for t in tasks.withLock({ $0 }) { t.cancel() }
        if configuration.claimsFromStore {
            // Stopped, not dead: its duties are free for another node at once.
            try? await driver.nodeStopped(owner: owner, at: nowMillis())
        }
        phaseValue.store(Phase.stopped.rawValue, ordering: .releasing)
        return DrainReport(finished: !unfinished, released: released, cutShort: unfinished && impatient.load(ordering: .acquiring))
    }

    /// Started and not draining.
    public var isRunning: Bool { phase == .running }

    // MARK: nodes and single-node duties

    /// Read once: `ProcessInfo.hostName` may ask the resolver, and the heartbeat runs every few seconds.
    private static let hostname = ProcessInfo.processInfo.hostName

    /// This engine's row of the node registry.
    func nodeInfo(at now: Millis) -> NodeInfo {
        NodeInfo(
            owner: owner, nodeID: configuration.nodeID, hostname: Self.hostname, version: configuration.version,
            tags: configuration.nodeTags, pid: Int(getpid()), startedAt: startedAt.load(ordering: .relaxed), heartbeatAt: now,
            state: .alive, inFlight: inFlight.load(ordering: .relaxed))
    }

    /// Takes or renews this engine's lease on a duty only one node of the store runs at a time
    /// (retention, the scheduler, health checks); true while it holds it. Called at least every
    /// third of a lease by the duty's holder; when the holder dies, another node's next call
    /// after the lease ran out takes the duty over. False when the store cannot be reached.
    public func holdSingleton(_ name: String, forMillis: Int64? = nil) async -> Bool {
        let now = nowMillis()
        do {
            return try await driver.singletonAcquire(name: name, owner: owner, until: now + (forMillis ?? configuration.leaseMillis), now: now)
        } catch {
            configuration.logger.debug("could not renew the lease of \(name): \(error)", metadata: ["duty": "\(name)"])
            return false
        }
    }

    private let fatalReported = Atomic<Bool>(false)

    /// The engine cannot go on: tell the embedding program (once).
    func reportFatal(_ error: SlothError) {
        guard fatalReported.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        configuration.onFatal?(error)
    }

    // MARK: dispatch

    /// Validates and durably stores an event; returns once it is committed. When this engine is
    /// running and has room, the event is stored already claimed and goes straight to a worker.
    @discardableResult
    public func dispatch(_ new: NewEvent) async throws(SlothError) -> Event {
        let encoded = try new.validated(maxDataBytes: configuration.maxDataBytes)
        let running = phase
        // While draining, outside intake stops, but a hook still finishing may hand on its work:
        // its events are stored as pending for the next engine to claim.
        if running == .draining && new.parentID == nil {
            throw .runtime("the engine is shutting down and accepts no new events")
        }
        let now = nowMillis()
        let id = EventID.make(millis: now)
        if let origin = new.originKey {
            // A hook's child: stored once per origin however often its parent runs (or, with
            // an idempotency key, once per key within its window).
            let event = Engine.pendingEvent(from: new, now: now, id: id, encoded: encoded)
            let stored: Event
            do {
                if let window = new.keyWindowMillis {
                    stored = try await driver.insertKeyedEvent(event, originKey: origin, expiredBefore: now - window).event
                } else {
                    stored = try await driver.insertChildEvent(event, originKey: origin).event
                }
            } catch {
                throw .storage("the event was not stored: \(error)")
            }
            metrics.fromHooks.increment()
            if running == .running { wakeClaimer() }
            return stored
        }
        let fast = running == .running ? queue.reserve(1) == 1 : false
        guard fast else {
            return try await insertPending(Engine.pendingEvent(from: new, now: now, id: id, encoded: encoded), running: running)
        }
        // Claimed at dispatch: a worker starts on it while its insert commits. If the hook is done
        // first, the insert writes the event once, in its final state (see OutcomeSlot). The
        // caller still hears back only once the event is durable.
        let event = Event(
            id: id, type: new.type, stack: new.stack, timestamp: now, data: new.data, status: .processing, createdAt: now,
            attempts: 1, parentID: new.parentID, chainDepth: new.chainDepth, leaseOwner: owner,
            leaseExpiresAt: now + configuration.leaseMillis, encodedData: encoded)
        let book = leaseBook
        let slot = OutcomeSlot { book.add(id) }
        switch queue.push(event, slot: slot) {
        case .start(let work): self.work(work)
        case .queued: break
        case .closed:
            // The engine began draining since the slot was reserved: store it for a later claim.
            queue.release()
            return try await insertPending(Engine.pendingEvent(from: new, now: now, id: event.id, encoded: encoded), running: .draining)
        }
        do {
            try await driver.insertClaimed(event, slot: slot)
        } catch {
            // Not accepted. An outcome the insert would have carried is gone with it; one that
            // comes later fails its compare-and-set, as the row does not exist.
            if let lost = slot.takeForInsert() { finished(event.id, status: lost.status, recorded: false, tracked: true) }
            leaseBook.remove([event.id])
            throw .storage("the event was not stored: \(error)")
        }
        if let status = slot.fusedStatus { finished(event.id, status: status, recorded: true, tracked: false) }
        return event
    }

    /// How long an idempotency key or a webhook delivery id holds: a repeat within it returns
    /// the first event; after it the key is free again (as Stripe's keys are).
    package static let keyLifetimeMillis: Int64 = IdempotencyKey.defaultWindowMillis

    /// Dispatches an event at most once per idempotency key within `window` (24 hours): the
    /// first call stores it (pending), a later one with the same key returns that event and
    /// stores nothing (`replayed`); two calls racing with one key store one event.
    package func dispatch(_ new: NewEvent, idempotencyKey key: String, window: Int64 = keyLifetimeMillis) async throws(SlothError) -> (event: Event, replayed: Bool) {
        try await dispatch(new, originKey: IdempotencyKey.origin(key), window: window)
    }

    /// Stores an event once per `originKey` (an idempotency key, a webhook's delivery id)
    /// within `window`.
    package func dispatch(_ new: NewEvent, originKey: String, window: Int64 = keyLifetimeMillis) async throws(SlothError) -> (event: Event, replayed: Bool) {
        let encoded = try new.validated(maxDataBytes: configuration.maxDataBytes)
        let running = phase
        if running == .draining { throw .runtime("the engine is shutting down and accepts no new events") }
        let now = nowMillis()
        let event = Engine.pendingEvent(from: new, now: now, id: EventID.make(millis: now), encoded: encoded)
        let result: (event: Event, inserted: Bool)
        do { result = try await driver.insertKeyedEvent(event, originKey: originKey, expiredBefore: now - window) } catch {
            throw .storage("the event was not stored: \(error)")
        }
        if result.inserted {
            notePendingStoredHere(1)
            if running == .running { wakeClaimer() }
        }
        return (result.event, !result.inserted)
    }

    /// Validates every event, then stores them all as pending in one commit (all or none);
    /// returns them once they are durable. The first invalid event is named by its position:
    /// `events[3]: ...`, and nothing is stored.
    public func dispatch(batch: [NewEvent]) async throws(SlothError) -> [Event] {
        if phase == .draining { throw .runtime("the engine is shutting down and accepts no new events") }
        let now = nowMillis()
        var events: [Event] = []
        events.reserveCapacity(batch.count)
        for (index, new) in batch.enumerated() {
            let encoded: String
            do { encoded = try new.validated(maxDataBytes: configuration.maxDataBytes) } catch {
                throw .invalidInput("events[\(index)]: \(error.description)")
            }
            events.append(Engine.pendingEvent(from: new, now: now, id: EventID.make(millis: now), encoded: encoded))
        }
        guard !events.isEmpty else { return [] }
        do { try await driver.insertEvents(events) } catch { throw .storage("the events were not stored: \(error)") }
        notePendingStoredHere(events.count { $0.parentID == nil })
        if phase == .running { wakeClaimer() }
        return events
    }

    /// Whether the store takes a write within `seconds` (a readiness probe): nil when it did,
    /// else why not. The write is one tiny row of the store's settings.
    package func probeStore(within seconds: Double) async -> String? {
        let driver = self.driver
        return await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    try await driver.setSetting("readiness_probe", value: String(nowMillis()))
                    return nil
                } catch {
                    return "the store refused a write: \(error)"
                }
            }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                return Task.isCancelled ? nil : "the store did not take a write within \(DurationText.describe(seconds))"
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Stores an event as pending, for a claim (here or by another node) to pick up.
    private func insertPending(_ event: Event, running: Phase) async throws(SlothError) -> Event {
        do { try await driver.insertEvents([event]) } catch { throw .storage("the event was not stored: \(error)") }
        if event.parentID == nil { notePendingStoredHere(1) }
        if running == .running {
            storeMayHavePending.store(true, ordering: .relaxed)
            wakeup.signal()
        }
        return event
    }

    /// The stored form of a new event before anything claims it.
    package static func pendingEvent(from new: NewEvent, now: Millis = nowMillis()) -> Event {
        pendingEvent(from: new, now: now, id: EventID.make(millis: now), encoded: nil)
    }

    static func pendingEvent(from new: NewEvent, now: Millis, id: String, encoded: String?) -> Event {
        Event(
            id: id, type: new.type, stack: new.stack, timestamp: now, data: new.data, createdAt: now,
            parentID: new.parentID, chainDepth: new.chainDepth, encodedData: encoded)
    }

    func wakeClaimer() {
        storeMayHavePending.store(true, ordering: .relaxed)
        wakeup.signal()
    }

    // MARK: hooks

    func refreshHooks(force: Bool) async throws {
        lastHookRefresh.store(nowMillis(), ordering: .relaxed)
        let version = try await driver.hooksVersion()
        if !force && version == hooks.withLock({ $0.version }) { return }
        let enabled = try await driver.listHooks(HookFilter(enabled: true)).map { LiveHook(CompiledHook($0), engine: self) }
        // Two refreshes may overlap (the poll, an API change): the older list never replaces a newer one.
        hooks.withLock { if version >= $0.version { $0 = (version, enabled) } }
    }

    /// What the engine is doing now, for `sloth-runner status` and `GET /api/v1/status`.
    package struct Status: Sendable {
        package var phase: String
        package var owner: String
        package var startedAt: Millis
        package var workers: Int
        /// Events claimed and waiting for a worker, and events being worked on.
        package var queued: Int
        package var inFlight: Int
        /// Events finished (completed or failed) per second, over the last whole minute.
        package var finishedPerSecond: Double
    }

    /// Dead letters in the store.
    package func deadLetterCount() async throws -> Int { try await driver.countDeadLetters() }

    package var status: Status {
        let now = UInt32(truncatingIfNeeded: nowMillis() / 1000)
        return Status(
            phase: "\(phase)", owner: owner, startedAt: startedAt.load(ordering: .relaxed), workers: configuration.workers,
            queued: queue.waiting, inFlight: inFlight.load(ordering: .relaxed),
            finishedPerSecond: Double(recentlyFinished.total(beforeSecond: now)) / 60)
    }

    /// Picks up hook changes now rather than at the next poll: after the HTTP API registers or
    /// changes a hook, an event dispatched next is matched against it.
    package func reloadHooks() async throws {
        try await refreshHooks(force: false)
    }

    /// An enabled hook with what every run of it shares, built once per hook version. A class:
    /// it is handed around per event, and copying a hook (source and all) costs dozens of retains.
    private final class LiveHook: Sendable {
        let compiled: CompiledHook
        /// A run request without its event.
        let template: HookRunRequest
        let policy: OutcomePlanner.HookPolicy
        let metrics: HookMetrics
        /// Whether this node has every tag the hook needs.
        let runsHere: Bool
        /// Whether storm control decides each of its runs (`StormGate`).
        let gated: Bool
        /// Whether its completed calls are journaled (`effects = "once"`).
        let journaled: Bool
        let stormMetrics: StormMetrics?

        init(_ compiled: CompiledHook, engine: Engine) {
            self.compiled = compiled
            policy = OutcomePlanner.HookPolicy(compiled.hook)
            metrics = HookMetrics(hookName: compiled.hook.name)
            runsHere = compiled.hook.runs(onNodeTagged: engine.configuration.nodeTags)
            gated = compiled.hook.controls.gatesRuns
            journaled = compiled.hook.controls.effectsOnce
            stormMetrics = gated ? StormMetrics(hookName: compiled.hook.name) : nil
            let hook = compiled.hook
            let configuration = engine.configuration
            var request = HookRunRequest(
                hookID: hook.id, hookName: hook.name, source: hook.source, sourceHash: hook.sourceHash,
                chunkName: compiled.chunkName, event: .value(.null), eventStack: nil,
                chainDepth: 0, limits: hook.limits, maxOutputBytes: configuration.maxOutputBytes,
                // Weak: the engine holds its hooks, so a strong reference would be a cycle.
                dispatcher: { [weak engine] new in
                    guard let engine else { return .failure(.runtime("the engine has stopped")) }
                    do throws(SlothError) { return .success(try await engine.dispatch(new).id) } catch { return .failure(error) }
                },
                maxChainDepth: configuration.maxChainDepth)
            request.maxDispatchesPerRun = configuration.maxDispatchesPerRun
            request.permissions = PermissionPolicy(
                declared: hook.permissions, strict: configuration.strictPermissions, environment: configuration.hookEnvironment)
            request.state = StoreState(store: engine.driver, stack: hook.stack ?? "")
            request.secrets = configuration.secrets
            if configuration.logger.logLevel < .critical {
                var logger = configuration.logger
                logger[metadataKey: "source"] = "hook"
                request.logger = logger
            }
            template = request
        }
    }

    /// The hooks that run for an event: those matching it, or, for a replay, those of its
    /// list that still match it.
    private func matchingHooks(for event: Event) -> [LiveHook] {
        let all = hooks.withLock { $0.all }
        if let replay = event.replay {
            return all.filter { replay.hooks.contains($0.compiled.hook.name) && $0.compiled.matches(type: event.type, stack: event.stack, data: event.data) }
        }
        return all.filter { $0.compiled.matches(type: event.type, stack: event.stack, data: event.data) }
    }

    // MARK: loops

    /// The periodic hook refresh: skipped while the store is quiet (nothing can have changed
    /// hooks), but at least once a second.
    func refreshHooksIfTheStoreMayHaveChanged() async throws {
        if !storeRecentlyWritten, nowMillis() - lastHookRefresh.load(ordering: .relaxed) < Self.quietPollMillis { return }
        try await refreshHooks(force: false)
    }

    private func claimLoop() async {
        while !Task.isCancelled && isRunning {
            var claimedFull = false
            var nextDue: Millis?
            let free = queue.freeSlots
            if free > 0 {
                let now = nowMillis()
                let due = try? await driver.nextDueTime()
                nextDue = due ?? nil
                if let due, due <= now {
                    let n = queue.reserve(min(free, 512))
                    if n > 0 {
                        let claimed: [Event]
                        do { claimed = try await driver.claimEvents(owner: owner, leaseMillis: configuration.leaseMillis, limit: n, now: now, tags: configuration.nodeTags) } catch {
                            claimed = []
                            claimErrors.report(error, to: configuration.logger, alsoTell: componentReporter("store"))
                        }
                        queue.release(n - claimed.count)
                        if !claimed.isEmpty {
                            metrics.claimed.increment(by: claimed.count)
                            // A first claim of a root event (hooks' events have a parent) came
                            // from another process — unless this engine stored it pending itself
                            // (a full run queue, a batch, a keyed dispatch, a schedule's slot),
                            // counted under its own source when accepted.
                            let roots = claimed.count { $0.attempts == 1 && $0.parentID == nil }
                            let fromOutside = roots - pendingStoredHere.withLock { n in
                                let mine = min(n, roots)
                                n -= mine
                                return mine
                            }
                            if fromOutside > 0 { metrics.fromStore.increment(by: fromOutside) }
                        }
                        leaseBook.add(claimed.map(\.id))
                        // A hook registered before these events were dispatched must see them:
                        // its commit precedes theirs, so reading the version now is enough.
                        if !claimed.isEmpty { try? await refreshHooks(force: false) }
                        var handBack: [String] = []
                        for e in claimed {
                            switch queue.push(e) {
                            case .start(let work): self.work(work)
                            case .queued: break
                            case .closed: handBack.append(e.id)
                            }
                        }
                        // Claimed while the engine began draining: straight back to the pool.
                        if !handBack.isEmpty {
                            _ = try? await driver.releaseLeases(owner: owner, eventIDs: handBack)
                            leaseBook.remove(handBack)
                            queue.release(handBack.count)
                        }
                        claimedFull = claimed.count == n
                    }
                } else {
                    storeMayHavePending.store(false, ordering: .relaxed)
                }
            }
            if !claimedFull {
                // A quiet store is polled once a second (a write wakes the loop at once); a
                // retry due sooner is waited for.
                var wait = configuration.pollMillis
                if !storeRecentlyWritten {
                    wait = max(wait, min(Self.quietPollMillis, (nextDue ?? .max) - nowMillis()))
                }
                await wakeup.wait(millis: wait)
            }
        }
    }

    /// A worker: processes the given event, then the queued ones, for as long as each finishes
    /// at once (no hook to run); returns as soon as one waits for a hook, whose completion carries
    /// on from there. Never blocks, so it can run on the dispatching task or a Lua thread.
    private func work(_ first: RunQueue.Work) {
        var current: RunQueue.Work? = first
        while let work = current {
            inFlight.add(1, ordering: .relaxed)
            guard case .finished(let outcome) = begin(work) else { return }
            deliver(work, outcome)
            current = queue.next()
        }
    }

    private enum Start { case finished(EventOutcome?), running }

    /// Starts processing an event. The common case (first claim, one hook) goes straight to a Lua
    /// thread and its outcome is planned there; the rest runs as a task.
    private func begin(_ work: RunQueue.Work) -> Start {
        // `work.event` is read in place throughout (a local copy would cost a retain and release).
        let matching = matchingHooks(for: work.event)
        guard work.event.attempts <= 1, !matching.contains(where: { !$0.runsHere || $0.gated || $0.journaled }) else {
            Task { completed(work, await process(work.event, matching: matching)) }
            return .running
        }
        switch matching.count {
        case 0:
            return .finished(OutcomePlanner.plan(event: work.event, owner: owner, matching: [], progress: HookProgress(), runs: [], now: nowMillis()))
        case 1:
            let live = matching[0]
            run(live, for: work.event, attempt: 1) { [self] run in
                completed(work, OutcomePlanner.plan(event: work.event, owner: owner, matching: [live.policy], progress: HookProgress(), runs: [run], now: nowMillis()))
            }
            return .running
        default:
            Task { completed(work, await process(work.event, matching: matching)) }
            return .running
        }
    }

    /// An event's processing ended out of line: hand its outcome on and keep the worker busy.
    private func completed(_ work: RunQueue.Work, _ outcome: EventOutcome?) {
        deliver(work, outcome)
        if let next = queue.next() { self.work(next) }
    }

    /// Either the event's pending insert carries the outcome, or the recorder commits it with
    /// others; the worker moves on at once.
    private func deliver(_ work: RunQueue.Work, _ outcome: EventOutcome?) {
        guard let outcome else {
            finished(work.event.id, status: nil, recorded: false, tracked: true)
            return
        }
        EngineLog.outcome(outcome, of: work.event, to: configuration.logger)
        if let slot = work.slot, slot.offer(outcome) { return }
        let status = outcome.status
        let eventID = work.event.id
        recorder.submit(outcome) { recorded in self.finished(eventID, status: status, recorded: recorded, tracked: true) }
    }

    /// An event's processing is over: recorded with `status`, or handed back (`recorded` false).
    /// `tracked`: its lease may be in the lease book (it was written as `processing`).
    private func finished(_ eventID: String, status: EventStatus?, recorded: Bool, tracked: Bool) {
        if tracked { leaseBook.remove([eventID]) }
        if recorded, let status {
            metrics.finished(status)
            if status == .completed || status == .failed { recentlyFinished.record(atSecond: UInt32(truncatingIfNeeded: nowMillis() / 1000)) }
        }
        if let status, recorded {
            configuration.observer?(.eventRecorded(eventID: eventID, status: status))
            if status == .pending { storeMayHavePending.store(true, ordering: .relaxed) }
        }
        inFlight.subtract(1, ordering: .releasing)
        queue.release()
        if storeMayHavePending.load(ordering: .relaxed) { wakeup.signal() }
        if !isRunning { idle.signal() }
    }

    /// `onComponentError` bound to one component, if it is set.
    private func componentReporter(_ component: String) -> (@Sendable (String) -> Void)? {
        guard let report = configuration.onComponentError else { return nil }
        return { @Sendable message in report(component, message) }
    }

    private func dutyLoop(_ duty: any EngineDuty) async {
        let reported = ThrottledError(what: duty.name)
        let tell = componentReporter("duty:" + duty.name)
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(duty.intervalMillis) * 1_000_000)
            if Task.isCancelled || !isRunning { return }
            do { try await duty.perform(self) } catch {
                configuration.logger.debug("\(duty.name) failed; trying again in \(DurationText.format(millis: duty.intervalMillis))", metadata: ["duty": "\(duty.name)", "error": "\(error)"])
                reported.report(error, to: configuration.logger, alsoTell: tell)
            }
        }
    }

    // MARK: processing

    /// Runs the hooks an event still needs and plans its outcome; nil when the event could not
    /// be prepared (its lease is handed back for a later claim).
    private func process(_ event: Event, matching: [LiveHook]) async -> EventOutcome? {
        var progress = HookProgress()
        if event.attempts > 1 {
            do { progress = try await driver.hookProgress(eventID: event.id) } catch {
                _ = try? await driver.releaseLeases(owner: owner, eventIDs: [event.id])
                return nil
            }
        }
        let owed = matching.filter {
            !progress.succeeded.contains($0.policy.id) && !progress.dead.contains($0.policy.id) && !progress.skipped.contains($0.policy.id)
        }
        // Hooks that need a node tagged otherwise are left for one: the event waits for it.
        let elsewhere = owed.filter { !$0.runsHere }
        var toRun: [(hook: LiveHook, ticket: StormGate.Ticket?)] = []
        var skips: [HookSkip] = []
        var deferred: [OutcomePlanner.Deferral] = []
        for hook in owed where hook.runsHere {
            guard hook.gated else {
                toRun.append((hook, nil))
                continue
            }
            let now = nowMillis()
            let admission: StormGate.Admission
            do { admission = try await gate.admit(hook.compiled.hook, event: event, now: now) } catch {
                // The store cannot say: nothing ran yet, so the claim goes back for a later one.
                configuration.logger.warning("storm control of hook \(hook.compiled.hook.name) could not be read: \(error)", metadata: ["hook": "\(hook.compiled.hook.name)"])
                for (admitted, ticket) in toRun {
                    if let ticket { try? await gate.release(admitted.compiled.hook, event: event, ticket: ticket, now: nowMillis()) }
                }
                _ = try? await driver.releaseLeases(owner: owner, eventIDs: [event.id])
                return nil
            }
            switch admission {
            case .run(let ticket): toRun.append((hook, ticket))
            case .skip(let reason, let detail, let related):
                hook.stormMetrics?.count(reason)
                skips.append(HookSkip(eventID: event.id, hookID: hook.policy.id, hookName: hook.policy.name, reason: reason, detail: detail, relatedEventID: related, at: now))
            case .deferred(let until, let reason, let detail):
                hook.stormMetrics?.count(reason)
                deferred.append(OutcomePlanner.Deferral(hook: hook.policy.name, until: until, reason: reason, detail: detail))
            }
        }
        var runs: [OutcomePlanner.Run] = []
        if toRun.count == 1 {
            let (hook, ticket) = toRun[0]
            runs.append(await runGated(hook, ticket: ticket, for: event, attempt: (progress.failedAttempts[hook.policy.id] ?? 0) + 1))
        } else if !toRun.isEmpty {
            runs = await withTaskGroup(of: OutcomePlanner.Run.self) { group in
                for (hook, ticket) in toRun {
                    let attempt = (progress.failedAttempts[hook.policy.id] ?? 0) + 1
                    group.addTask { await self.runGated(hook, ticket: ticket, for: event, attempt: attempt) }
                }
                var all: [OutcomePlanner.Run] = []
                for await r in group { all.append(r) }
                return all
            }
        }
        let planned = OutcomePlanner.plan(
            event: event, owner: owner, matching: matching.map(\.policy), progress: progress, runs: runs, now: nowMillis(), skips: skips,
            deferred: deferred)
        guard !elsewhere.isEmpty else { return planned }
        return OutcomePlanner.waiting(planned, for: elsewhere.map(\.compiled.hook), now: nowMillis())
    }

    /// Runs a hook; with a storm-control ticket, hands it back afterwards and announces a
    /// circuit that opened (`health.degraded`) or closed (`health.recovered`).
    private func runGated(_ live: LiveHook, ticket: StormGate.Ticket?, for event: Event, attempt: Int) async -> OutcomePlanner.Run {
        let (journal, readable) = await effectJournal(for: live, event: event, attempt: attempt)
        let run: OutcomePlanner.Run
        if readable {
            run = await self.run(live, for: event, attempt: attempt, journal: journal)
        } else {
            // Not run: without the journal a completed call could be made twice. It counts as
            // a failed attempt, so the retry rules (and their limit) apply.
            let message = "the effect journal could not be read; the hook did not run (it runs again on its next attempt)"
            run = OutcomePlanner.Run(
                hook: live.policy, attempt: attempt, result: HookRunResult(success: false, message: message, output: "", durationMillis: 0, usage: ResourceUsage()),
                executedAt: nowMillis())
        }
        guard let ticket else { return run }
        let hook = live.compiled.hook
        let change: StormGate.CircuitChange?
        do { change = try await gate.finish(hook, event: event, ticket: ticket, succeeded: run.result.success, now: nowMillis()) } catch {
            // A slot not handed back frees itself when its hold runs out.
            configuration.logger.warning("storm control of hook \(hook.name) could not be updated: \(error)", metadata: ["hook": "\(hook.name)"])
            return run
        }
        switch change {
        case .opened(let failures, let openUntil)?:
            live.stormMetrics?.count("circuit_opened")
            configuration.logger.warning("circuit of hook \(hook.name) opened after \(failures) failures; its runs wait until \(RFC3339.string(millis: openUntil))", metadata: ["hook": "\(hook.name)"])
            if let b = hook.controls.circuitBreaker {
                _ = try? await dispatch(NewEvent(type: "health.degraded", data: .object([
                    "service": .string(hook.name), "threshold": .int(Int64(b.failures)),
                    "metrics": .object(["failures": .int(Int64(failures)), "within_ms": .int(b.withinMillis), "open_until": .string(RFC3339.string(millis: openUntil)), "event_id": .string(event.id)]),
                ]), stack: event.stack))
            }
        case .closed(let downtime)?:
            live.stormMetrics?.count("circuit_closed")
            configuration.logger.notice("circuit of hook \(hook.name) closed after \(DurationText.format(millis: downtime))", metadata: ["hook": "\(hook.name)"])
            _ = try? await dispatch(NewEvent(type: "health.recovered", data: .object([
                "service": .string(hook.name), "downtime_duration": .double(Double(downtime) / 1000), "event_id": .string(event.id),
            ]), stack: event.stack))
        case nil: break
        }
        return run
    }

    /// Runs one hook for an event; `completion` is called on the Lua thread with the run as
    /// planning needs it.
    private func run(
        _ live: LiveHook, for event: Event, attempt: Int, journal: EffectJournal? = nil, completion: @escaping @Sendable (OutcomePlanner.Run) -> Void
    ) {
        let executedAt = nowMillis()
        let eventID = event.id
        var request = request(for: live, event: event, attempt: attempt)
        if let journal { request.effectJournal = journal }
        runtime.run(request) { [self] result in
            configuration.observer?(.hookStarted(eventID: eventID, at: result.startedAt))
            live.metrics.record(result, dead: !result.success && attempt >= live.compiled.hook.maxAttempts)
            completion(OutcomePlanner.Run(hook: live.policy, attempt: attempt, result: result, executedAt: executedAt))
        }
    }

    private func run(_ live: LiveHook, for event: Event, attempt: Int, journal: EffectJournal? = nil) async -> OutcomePlanner.Run {
        await withCheckedContinuation { cont in run(live, for: event, attempt: attempt, journal: journal) { cont.resume(returning: $0) } }
    }

    /// The journal of a hook with `effects = "once"` for this attempt: what earlier attempts
    /// recorded (none on a first claim). Nil for other hooks, or when it cannot be read (then
    /// the claim goes back: running without it could repeat a completed call).
    private func effectJournal(for live: LiveHook, event: Event, attempt: Int) async -> (journal: EffectJournal?, readable: Bool) {
        guard live.compiled.hook.controls.effectsOnce else { return (nil, true) }
        let driver = self.driver, hookID = live.policy.id, eventID = event.id
        var earlier: [EffectRecord] = []
        if event.attempts > 1 {
            do { earlier = try await driver.effectJournal(eventID: eventID, hookID: hookID) } catch { return (nil, false) }
        }
        let journal = EffectJournal(
            eventID: eventID, hookID: hookID, attempt: attempt, earlier: earlier,
            save: { record in
                // The event's own insert may still be committing (it was claimed at dispatch):
                // the journal row refers to it, so a refused write is tried again shortly.
                var delay: UInt64 = 5_000_000
                for _ in 0..<8 {
                    do { return try await driver.recordEffect(record) } catch { try? await Task.sleep(nanoseconds: delay) }
                    delay *= 2
                }
                try await driver.recordEffect(record)
            },
            reuse: { position in try await driver.noteEffectReused(eventID: eventID, hookID: hookID, position: position) })
        return (journal, true)
    }

    private func request(for live: LiveHook, event: Event, attempt: Int) -> HookRunRequest {
        var request = live.template
        request.event = .event(HookEventView(event, attempt: attempt))
        request.eventStack = event.stack
        request.chainDepth = event.chainDepth
        return request
    }
}

/// The set behind `Engine.leaseBook`.
final class LeaseBook: Sendable {
    private let ids = Mutex<Set<String>>([])

    func add(_ id: String) { ids.withLock { _ = $0.insert(id) } }

    func add(_ new: [String]) {
        guard !new.isEmpty else { return }
        ids.withLock { $0.formUnion(new) }
    }

    func remove(_ gone: [String]) {
        ids.withLock { set in
            if set.isEmpty { return }
            for id in gone { set.remove(id) }
        }
    }

    var snapshot: [String] { ids.withLock { Array($0) } }
}
