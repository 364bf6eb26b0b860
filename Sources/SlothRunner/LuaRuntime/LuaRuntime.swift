import CLinux
import CLuaShim
import Foundation
import Synchronization

/// The sandboxed Lua runtime: a few executor threads, each running many hooks as coroutines,
/// and a watchdog that replaces an executor stuck past a run's deadline.
///
/// An executor inside one library call for longer than a few time slices (a long pattern
/// match, a big template; bounded, but not preemptible) is *hogged*: new runs go to the others,
/// and when every executor is hogged an overflow executor is started (up to as many as there
/// are regular ones), so a trivial event never waits behind slow library calls. Overflow
/// executors stop after a few idle seconds.
public final class LuaRuntime: Sendable {
    /// The regular executors first, then overflow ones; the watchdog swaps a stuck one for a
    /// fresh one in place.
    private let executors: Mutex<[LuaExecutor]>
    private let regularCount: Int
    static let hoggedAfterSlices = 5.0
    static let overflowIdleSeconds = 5.0
    private let next = Atomic<Int>(0)
    private let timeSlice: Double
    private let testing: Bool
    /// Bits of the `sb_now()` instant shutdown began (0: running).
    private let shutdownStarted = Atomic<UInt64>(0)
    private let watchdog: LuaWatchdog
    private let stuckCount = Atomic<Int>(0)
    private let onStuckThread: (@Sendable (StuckThread) -> Void)?
    /// How long past a run's deadline an executor may stay inside one call before the watchdog
    /// gives up on it.
    package let stuckGrace: Double

    /// What the watchdog did about an executor thread stuck inside a library call.
    public struct StuckThread: Sendable {
        /// The hook whose run was stuck (nil while a hook file was loading).
        public var hookName: String?
        /// The host or library function it was in ("template.render"), if known.
        public var call: String?
        /// Other runs on that thread, failed with it (their attempts count).
        public var otherRuns: Int
        /// Threads left behind so far in this process (each idles at the lowest priority until
        /// its call returns, if ever).
        public var threadsLeftBehind: Int
    }

    /// - Parameters:
    ///   - threads: executor threads; defaults to the number of cores.
    ///   - timeSlice: how long a CPU-bound hook runs before others get their turn.
    ///   - stuckGrace: how far past a run's deadline a thread may be inside one call before the
    ///     watchdog gives up on it. Library calls stop themselves at the deadline; this is the
    ///     second line, so it errs on the side of a thread starved of CPU on a loaded machine.
    ///   - onStuckThread: told whenever the watchdog replaces a stuck thread.
    public convenience init(
        threads: Int = ProcessInfo.processInfo.activeProcessorCount, timeSlice: Double = 0.01, stuckGrace: Double = 3,
        onStuckThread: (@Sendable (StuckThread) -> Void)? = nil
    ) {
        self.init(threads: threads, timeSlice: timeSlice, stuckGrace: stuckGrace, onStuckThread: onStuckThread, testing: false)
    }

    /// `testing`: hooks may `require("testing")`, whose `block(seconds)` holds the thread in a
    /// host call that ignores every limit: the one way to exercise the watchdog.
    init(threads: Int, timeSlice: Double, stuckGrace: Double, onStuckThread: (@Sendable (StuckThread) -> Void)?, testing: Bool) {
        self.timeSlice = timeSlice
        self.testing = testing
        self.stuckGrace = stuckGrace
        self.onStuckThread = onStuckThread
        regularCount = max(1, threads)
        executors = Mutex((0..<max(1, threads)).map { LuaExecutor(index: $0, timeSlice: timeSlice, testing: testing) })
        // Often enough to mark hogged executors soon after they are (5 time slices).
        watchdog = LuaWatchdog(interval: min(0.05, max(0.01, stuckGrace / 4)))
        watchdog.start { [weak self] in self?.checkForStuckThreads() }
    }

    /// Runs one hook for one event; never throws: every failure is a result.
    package func run(_ request: HookRunRequest) async -> HookRunResult {
        await withCheckedContinuation { cont in
            pick().submit(request) { cont.resume(returning: $0) }
        }
    }

    /// Starts one hook run; `completion` is called on the executor thread when it ends, so it
    /// must be quick. The engine uses this to avoid a task hop per run.
    package func run(_ request: HookRunRequest, completion: @escaping @Sendable (HookRunResult) -> Void) {
        pick().submit(request, completion: completion)
    }

    /// Loads and runs a hook file once, without an event, to learn its contract and metadata.
    package func inspect(source: String, chunkName: String) async throws(SlothError) -> HookInspection {
        let executor = pick()
        defer { executor.load.subtract(1, ordering: .relaxed) }
        return try await executor.inspect(source: source, chunkName: chunkName).get()
    }

    deinit { watchdog.stop() }

    /// Threads the watchdog has had to leave behind so far.
    package var stuckThreads: Int { stuckCount.load(ordering: .relaxed) }

    /// Executors inside one library call for longer than a few time slices, at the moment.
    package var hoggedExecutors: Int {
        let now = sb_now()
        return executors.withLock { $0 }.filter { $0.isHogged(now: now, seconds: timeSlice * Self.hoggedAfterSlices) }.count
    }

    /// Executors started while every one was hogged, at the moment.
    package var overflowExecutors: Int { executors.withLock { $0.count } - regularCount }

    /// The executor with the fewest runs in flight (round-robin among equals) that is not
    /// hogged by a library call, with the run counted in its load. The lock is held only to
    /// copy the list (every run passes here); an overflow executor being retired at the same
    /// moment is noticed by its `retiring` flag, and another one is picked.
    private func pick() -> LuaExecutor {
        while true {
            let all = executors.withLock { $0 }
            let start = next.add(1, ordering: .relaxed).newValue
            var best: LuaExecutor?
            var bestLoad = Int.max
            var fallback = all[start % all.count]
            var fallbackLoad = fallback.load.load(ordering: .relaxed)
            for i in 0..<all.count {
                let e = all[(start + i) % all.count]
                let l = e.load.load(ordering: .relaxed)
                if l < fallbackLoad { fallback = e; fallbackLoad = l }
                if l < bestLoad, !e.hogged.load(ordering: .relaxed) {
                    best = e
                    bestLoad = l
                }
            }
            let chosen = best ?? addOverflowExecutor(seen: all.count) ?? fallback
            chosen.load.add(1, ordering: .sequentiallyConsistent)
            if !chosen.retiring.load(ordering: .sequentiallyConsistent) { return chosen }
            chosen.load.subtract(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Starts an overflow executor, unless there are as many as regular ones already (or the
    /// list changed since it was read, in which case the caller looks again next time).
    private func addOverflowExecutor(seen: Int) -> LuaExecutor? {
        guard shutdownStarted.load(ordering: .relaxed) == 0 else { return nil }
        return executors.withLock { all -> LuaExecutor? in
            guard all.count == seen, all.count < regularCount * 2 else { return nil }
            let extra = LuaExecutor(index: all.count, timeSlice: timeSlice, testing: testing, overflow: true)
            all.append(extra)
            return extra
        }
    }

    /// Stops overflow executors that have had nothing to do for a while. A run on its way to
    /// one (see `pick`) either sees it retiring and goes elsewhere, or is seen here and keeps
    /// it alive.
    private func retireIdleOverflow(now: Double) {
        let candidates = executors.withLock { $0 }.filter {
            $0.overflow && $0.busySince.load(ordering: .relaxed) == 0
                && now - Double(bitPattern: $0.lastActive.load(ordering: .relaxed)) > Self.overflowIdleSeconds
        }
        var retired: [LuaExecutor] = []
        for e in candidates {
            e.retiring.store(true, ordering: .sequentiallyConsistent)
            if e.load.load(ordering: .sequentiallyConsistent) > 0 {
                e.retiring.store(false, ordering: .sequentiallyConsistent)
            } else {
                retired.append(e)
            }
        }
        guard !retired.isEmpty else { return }
        executors.withLock { all in all.removeAll { e in retired.contains { $0 === e } } }
        for e in retired { e.stop() }
    }

    /// Stops the executor threads; runs still in flight end as failures. A thread stuck in a
    /// call is given up on `stuckGrace` after shutdown began, so this always returns.
    public func shutdown() {
        _ = shutdownStarted.compareExchange(expected: 0, desired: sb_now().bitPattern, ordering: .acquiringAndReleasing)
        var stopped = Set<ObjectIdentifier>()
        while true {
            let pending = executors.withLock { $0 }.filter { !stopped.contains(ObjectIdentifier($0)) }
            if pending.isEmpty { break }
            for e in pending {
                e.stop()
                stopped.insert(ObjectIdentifier(e))
            }
        }
        watchdog.stop()
    }

    // MARK: watchdog

    private func checkForStuckThreads() {
        let now = sb_now()
        let shutdownBits = shutdownStarted.load(ordering: .acquiring)
        for executor in executors.withLock({ $0 }) {
            executor.hogged.store(executor.isHogged(now: now, seconds: timeSlice * Self.hoggedAfterSlices), ordering: .relaxed)
            let bits = executor.busyDeadline.load(ordering: .acquiring)
            guard bits != 0 else { continue }
            var limit = Double(bitPattern: bits)
            if shutdownBits != 0 { limit = min(limit, Double(bitPattern: shutdownBits)) }
            if now > limit + stuckGrace { replace(executor, now: now) }
        }
        if shutdownBits == 0 { retireIdleOverflow(now: now) }
    }

    /// Gives up on a stuck executor: a fresh one takes its slot and its queue, every run it had
    /// started is answered as failed (the stuck one as a timeout naming the call), and the old
    /// thread is left to finish its call, if ever, at the lowest priority.
    private func replace(_ stuck: LuaExecutor, now: Double) {
        guard stuck.queue.abandoned.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let fresh = LuaExecutor(index: stuck.index, timeSlice: timeSlice, testing: testing, overflow: stuck.overflow)
        executors.withLock { all in
            if let i = all.firstIndex(where: { $0 === stuck }) { all[i] = fresh }
        }
        for job in stuck.queue.forward(to: fresh.queue) {
            switch job {
            case .start, .inspect, .stop: fresh.queue.push(job)
            case .resume, .deadline: break  // for runs of the stuck thread, answered below
            }
        }
        let call = sb_activity_call(stuck.activity).map { String(cString: $0) }
        let place = call.map { "stuck in \($0)" } ?? "stuck in a library call"
        let stuckID = stuck.busyRunID.load(ordering: .relaxed)
        let runs = stuck.started.withLock { runs in
            defer { runs.removeAll() }
            return runs
        }
        let stuckHook = runs[stuckID]?.job.request.hookName
        for (id, entry) in runs {
            let request = entry.job.request
            let message = id == stuckID
                ? "timeout after \(formatSeconds(millis: request.limits.timeoutMillis)) (\(place))"
                : "stopped: the Lua thread running this hook was replaced after hook \(stuckHook ?? "?") got \(place); this attempt counts as failed"
            entry.job.finish(HookRunResult(
                success: false, message: message, output: "", durationMillis: Int64(((now - entry.startedAt) * 1000).rounded()),
                usage: ResourceUsage(), killed: true, startedAt: entry.startedAt))
        }
        if stuckID == LuaExecutor.inspectRunID, let job = stuck.inspecting.withLock({ $0 }) {
            job.finish(.failure(.invalidHook("loading the hook file was stopped: it got \(place) for more than \(formatSeconds(millis: Int64(LuaExecutor.inspectSeconds * 1000)))")))
        }
        let tid = stuck.threadID.load(ordering: .relaxed)
        if tid > 0 { _ = sloth_demote_thread(tid) }
        let total = stuckCount.add(1, ordering: .relaxed).newValue
        onStuckThread?(StuckThread(hookName: stuckHook, call: call, otherRuns: max(0, runs.count - 1), threadsLeftBehind: total))
    }
}

/// A thread that calls its check at an interval until stopped; no timer work on the
/// concurrency pool, which a stuck hook must never be able to hold up.
final class LuaWatchdog: Sendable {
    private let interval: Double
    private let stopRequested = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    init(interval: Double) { self.interval = interval }

    func start(_ check: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            nameCurrentThread("sloth-watchdog")
            while !stopRequested.load(ordering: .acquiring) {
                _ = wake.wait(timeout: .now() + interval)
                if stopRequested.load(ordering: .acquiring) { break }
                check()
            }
            done.signal()
        }
        thread.name = "sloth-watchdog"
        thread.stackSize = 256 << 10
        thread.start()
    }

    func stop() {
        guard stopRequested.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        wake.signal()
        done.wait()
    }
}
