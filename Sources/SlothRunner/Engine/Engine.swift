import Foundation
import Synchronization

/// The event engine: accepts events durably, claims them under leases, runs every matching
/// hook in the Lua runtime and records each outcome with a compare-and-set.
///
/// Embeddable: `Engine(store:runtime:configuration:)`, `start()`, `dispatch(_:)`, `drain(grace:)`.
public final class Engine: Sendable {
    public let store: any EventStore
    public let runtime: LuaRuntime
    public let configuration: EngineConfiguration
    /// This incarnation's lease owner: `node/unique`, so a restart can tell its own old leases.
    public let owner: String

    private let queue: RunQueue
    private let wakeup = Wakeup()
    private let idle = Wakeup()
    private let hooks = Mutex<(version: Int64, all: [CompiledHook])>((-1, []))
    private let phase = Mutex<Phase>(.stopped)
    private let inFlight = Mutex<Set<String>>([])
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let storeMayHavePending = Atomic<Bool>(true)
    private let recorder: OutcomeRecorder

    enum Phase { case stopped, running, draining }

    public init(store: any EventStore, runtime: LuaRuntime, configuration: EngineConfiguration = EngineConfiguration()) {
        self.store = store
        self.runtime = runtime
        self.configuration = configuration
        self.owner = "\(configuration.nodeID)/\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        self.queue = RunQueue(capacity: configuration.queueCapacity)
        self.recorder = OutcomeRecorder(store: store)
    }

    // MARK: life cycle

    /// Reclaims this node's leases from earlier runs, loads hooks, starts workers and duties.
    public func start() async throws {
        _ = try await store.releaseStaleLeases(nodePrefix: configuration.nodeID + "/", current: owner)
        try await refreshHooks(force: true)
        phase.withLock { $0 = .running }
        var started: [Task<Void, Never>] = []
        for _ in 0..<max(1, configuration.workers) {
            started.append(Task { await self.workerLoop() })
        }
        if configuration.claimsFromStore {
            started.append(Task { await self.claimLoop() })
        }
        let lease = configuration.leaseMillis
        var duties: [any EngineDuty] = [
            LeaseRenewal(intervalMillis: max(50, lease / 3)),
            HookRefresh(intervalMillis: 100),
        ]
        if configuration.claimsFromStore {
            duties.append(LeaseRescue(intervalMillis: max(100, lease / 2)))
            duties.append(RetentionPruner(intervalMillis: 600_000, completedMillis: configuration.retainCompletedMillis, failedMillis: configuration.retainFailedMillis))
        }
        for duty in duties {
            started.append(Task { await self.dutyLoop(duty) })
        }
        tasks.withLock { $0 = started }
    }

    public struct DrainReport: Sendable {
        public var finished: Bool
        /// Claimed events handed back to the store for a later claim.
        public var released: Int
    }

    /// Stops intake, lets hooks in flight finish for up to `grace` seconds, then hands every
    /// unfinished claim back to the store. Nothing accepted is lost.
    public func drain(grace: Double) async -> DrainReport {
        let wasRunning = phase.withLock { p -> Bool in
            let r = p == .running
            p = .draining
            return r
        }
        guard wasRunning else { return DrainReport(finished: true, released: 0) }
        let queued = queue.close()
        var released = 0
        if !queued.isEmpty {
            released += (try? await store.releaseLeases(owner: owner, eventIDs: queued.map(\.id))) ?? 0
            queue.release(queued.count)
        }
        let deadline = monotonicSeconds() + grace
        while !inFlight.withLock({ $0.isEmpty }) && monotonicSeconds() < deadline {
            await idle.wait(millis: Int64(max(1, min(100, (deadline - monotonicSeconds()) * 1000))))
        }
        let unfinished = inFlight.withLock { Array($0) }
        if !unfinished.isEmpty {
            released += (try? await store.releaseLeases(owner: owner, eventIDs: unfinished)) ?? 0
        }
        for t in tasks.withLock({ $0 }) { t.cancel() }
        phase.withLock { $0 = .stopped }
        return DrainReport(finished: unfinished.isEmpty, released: released)
    }

    public var isRunning: Bool { phase.withLock { $0 == .running } }

    // MARK: dispatch

    /// Validates and durably stores an event; returns once it is committed. When this engine is
    /// running and has room, the event is stored already claimed and goes straight to a worker.
    @discardableResult
    public func dispatch(_ new: NewEvent) async throws(SlothError) -> Event {
        let encoded = try new.validated(maxDataBytes: configuration.maxDataBytes)
        let running = phase.withLock { $0 }
        // While draining, outside intake stops, but a hook still finishing may hand on its work:
        // its events are stored as pending for the next engine to claim.
        if running == .draining && new.parentID == nil {
            throw .runtime("the engine is shutting down and accepts no new events")
        }
        let now = nowMillis()
        var event = Engine.pendingEvent(from: new, now: now)
        event.encodedData = encoded
        let fast = running == .running ? queue.reserve(1) == 1 : false
        guard fast else {
            do { try await store.insertEvents([event]) } catch { throw .storage("the event was not stored: \(error)") }
            if running == .running {
                storeMayHavePending.store(true, ordering: .relaxed)
                wakeup.signal()
            }
            return event
        }
        // Claimed at dispatch: a worker starts on it while its insert commits. If the hook is done
        // first, the insert writes the event once, in its final state (see OutcomeSlot). The
        // caller still hears back only once the event is durable.
        event.status = .processing
        event.leaseOwner = owner
        event.leaseExpiresAt = now + configuration.leaseMillis
        event.attempts = 1
        let slot = OutcomeSlot()
        queue.push(event, slot: slot)
        do {
            try await store.insertClaimed(event, slot: slot)
        } catch {
            // Not accepted. An outcome the insert would have carried is gone with it; one that
            // comes later fails its compare-and-set, as the row does not exist.
            if let lost = slot.takeForInsert() { finished(event, outcome: lost, recorded: false) }
            throw .storage("the event was not stored: \(error)")
        }
        if case .fused(let outcome) = slot.current { finished(event, outcome: outcome, recorded: true) }
        return event
    }

    /// The stored form of a new event before anything claims it.
    public static func pendingEvent(from new: NewEvent, now: Millis = nowMillis()) -> Event {
        Event(
            id: EventID.make(millis: now), type: new.type, stack: new.stack, timestamp: now, data: new.data, createdAt: now,
            parentID: new.parentID, chainDepth: new.chainDepth)
    }

    func wakeClaimer() {
        storeMayHavePending.store(true, ordering: .relaxed)
        wakeup.signal()
    }

    // MARK: hooks

    func refreshHooks(force: Bool) async throws {
        let version = try await store.hooksVersion()
        if !force && version == hooks.withLock({ $0.version }) { return }
        let enabled = try await store.listHooks(HookFilter(enabled: true)).map(CompiledHook.init)
        hooks.withLock { $0 = (version, enabled) }
    }

    func matchingHooks(for event: Event) -> [CompiledHook] {
        hooks.withLock { $0.all }.filter { $0.matches(type: event.type, stack: event.stack, data: event.data) }
    }

    // MARK: loops

    private func claimLoop() async {
        while !Task.isCancelled && isRunning {
            var claimedFull = false
            let free = queue.freeSlots
            if free > 0 {
                let now = nowMillis()
                if let due = try? await store.nextDueTime(), due <= now {
                    let n = queue.reserve(min(free, 512))
                    if n > 0 {
                        let claimed = (try? await store.claimEvents(owner: owner, leaseMillis: configuration.leaseMillis, limit: n, now: now)) ?? []
                        queue.release(n - claimed.count)
                        // A hook registered before these events were dispatched must see them:
                        // its commit precedes theirs, so reading the version now is enough.
                        if !claimed.isEmpty { try? await refreshHooks(force: false) }
                        for e in claimed { queue.push(e) }
                        claimedFull = claimed.count == n
                    }
                } else {
                    storeMayHavePending.store(false, ordering: .relaxed)
                }
            }
            if !claimedFull { await wakeup.wait(millis: configuration.pollMillis) }
        }
    }

    private func workerLoop() async {
        while let work = await queue.next() {
            let event = work.event
            inFlight.withLock { _ = $0.insert(event.id) }
            if let outcome = await process(event) {
                // Either the event's pending insert carries the outcome, or the recorder commits
                // it with others; the worker moves on at once.
                if let slot = work.slot, slot.offer(outcome) { continue }
                recorder.submit(outcome) { recorded in self.finished(event, outcome: outcome, recorded: recorded) }
            } else {
                finished(event, outcome: nil, recorded: false)
            }
        }
    }

    private func finished(_ event: Event, outcome: EventOutcome?, recorded: Bool) {
        if let outcome, recorded {
            configuration.observer?(.eventRecorded(eventID: event.id, status: outcome.status))
            if outcome.status == .pending { storeMayHavePending.store(true, ordering: .relaxed) }
        }
        inFlight.withLock { _ = $0.remove(event.id) }
        queue.release()
        if storeMayHavePending.load(ordering: .relaxed) { wakeup.signal() }
        if !isRunning { idle.signal() }
    }

    private func dutyLoop(_ duty: any EngineDuty) async {
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(duty.intervalMillis) * 1_000_000)
            if Task.isCancelled || !isRunning { return }
            do { try await duty.perform(self) } catch {
                FileHandle.standardError.write(Data("sloth-runner: \(duty.name) failed: \(error)\n".utf8))
            }
        }
    }

    // MARK: processing

    /// Runs the hooks an event still needs and plans its outcome; nil when the event could not
    /// be prepared (its lease is handed back for a later claim).
    private func process(_ event: Event) async -> EventOutcome? {
        let matching = matchingHooks(for: event)
        var progress = HookProgress()
        if event.attempts > 1 {
            do { progress = try await store.hookProgress(eventID: event.id) } catch {
                _ = try? await store.releaseLeases(owner: owner, eventIDs: [event.id])
                return nil
            }
        }
        let toRun = matching.filter { !progress.succeeded.contains($0.hook.id) && !progress.dead.contains($0.hook.id) }
        var runs: [OutcomePlanner.Run] = []
        if toRun.count == 1 {
            let hook = toRun[0]
            runs.append(await run(hook, for: event, attempt: (progress.failedAttempts[hook.hook.id] ?? 0) + 1))
        } else if !toRun.isEmpty {
            runs = await withTaskGroup(of: OutcomePlanner.Run.self) { group in
                for hook in toRun {
                    let attempt = (progress.failedAttempts[hook.hook.id] ?? 0) + 1
                    group.addTask { await self.run(hook, for: event, attempt: attempt) }
                }
                var all: [OutcomePlanner.Run] = []
                for await r in group { all.append(r) }
                return all
            }
        }
        return OutcomePlanner.plan(event: event, owner: owner, matching: matching.map(\.hook), progress: progress, runs: runs, now: nowMillis())
    }

    private func run(_ compiled: CompiledHook, for event: Event, attempt: Int) async -> OutcomePlanner.Run {
        let hook = compiled.hook
        let view = Self.luaView(of: event, attempt: attempt)
        var request = HookRunRequest(
            hookID: hook.id, hookName: hook.name, source: hook.source, sourceHash: hook.sourceHash,
            chunkName: compiled.chunkName, event: view, eventStack: event.stack,
            chainDepth: event.chainDepth, limits: hook.limits, maxOutputBytes: configuration.maxOutputBytes,
            dispatcher: { [self] new in
                do throws(SlothError) { return .success(try await self.dispatch(new).id) } catch { return .failure(error) }
            },
            maxChainDepth: configuration.maxChainDepth)
        request.permissions = PermissionPolicy(
            declared: hook.permissions, strict: configuration.strictPermissions, environment: configuration.hookEnvironment)
        request.state = StoreState(store: store, stack: hook.stack ?? "")
        request.secrets = configuration.secrets
        let executedAt = nowMillis()
        let result = await runtime.run(request)
        configuration.observer?(.hookStarted(eventID: event.id, at: result.startedAt))
        return OutcomePlanner.Run(hook: hook, attempt: attempt, result: result, executedAt: executedAt)
    }

    /// The event as a hook sees it.
    public static func luaView(of event: Event, attempt: Int) -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(event.id), "type": .string(event.type), "timestamp": .int(event.timestamp), "data": event.data,
            "attempt": .int(Int64(attempt)), "chain_depth": .int(Int64(event.chainDepth)),
        ]
        if let s = event.stack { o["stack"] = .string(s) }
        if let p = event.parentID { o["parent_id"] = .string(p) }
        return .object(o)
    }
}
