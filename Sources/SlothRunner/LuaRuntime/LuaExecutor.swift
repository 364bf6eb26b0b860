import CLua
import CLuaShim
import Foundation
import Synchronization
import CLinux

/// One OS thread that runs many hooks at once as Lua coroutines. A hook that sleeps or waits for
/// I/O suspends its coroutine and the thread moves on; a CPU-bound hook is preempted by the
/// count hook after its time slice and queued behind the others.
///
/// What the executor is doing is published for the runtime's watchdog (`LuaWatchdog`): the
/// deadline of the run it is inside, the host call it is in, and every run it has started. If
/// the thread is stuck past a deadline (a library call that escaped its bounds), the watchdog
/// fails those runs from outside, forwards the queue to a replacement executor and leaves this
/// thread behind at idle priority.
final class LuaExecutor: Sendable {
    enum Job: Sendable {
        /// Boxed: jobs are copied in and out of the queue, and a request has many fields.
        case start(StartJob)
        case inspect(InspectJob)
        case resume(runID: Int, values: [JSONValue])
        case deadline(runID: Int)
        case stop
    }

    /// A run to start, answered exactly once: by the executor, or by the watchdog when the
    /// executor got stuck (whichever comes first; the other's answer is dropped).
    final class StartJob: Sendable {
        let request: HookRunRequest
        private let complete: @Sendable (HookRunResult) -> Void
        private let answered = Atomic<Bool>(false)

        init(request: HookRunRequest, complete: @escaping @Sendable (HookRunResult) -> Void) {
            self.request = request
            self.complete = complete
        }

        func finish(_ result: HookRunResult) {
            guard answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
            complete(result)
        }
    }

    final class InspectJob: Sendable {
        let source: String
        let chunkName: String
        private let complete: @Sendable (Result<HookInspection, SlothError>) -> Void
        private let answered = Atomic<Bool>(false)

        init(source: String, chunkName: String, complete: @escaping @Sendable (Result<HookInspection, SlothError>) -> Void) {
            self.source = source
            self.chunkName = chunkName
            self.complete = complete
        }

        func finish(_ result: Result<HookInspection, SlothError>) {
            guard answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
            complete(result)
        }
    }

    final class Queue: Sendable {
        private let state = Mutex<(jobs: [Job], forward: Queue?)>(([], nil))
        let wake = DispatchSemaphore(value: 0)
        let stopped = DispatchSemaphore(value: 0)
        /// Set by the watchdog: the thread reading this queue is stuck and has been replaced.
        let abandoned = Atomic<Bool>(false)

        func push(_ job: Job) {
            let target = state.withLock { s -> Queue? in
                if let forward = s.forward { return forward }
                s.jobs.append(job)
                return nil
            }
            if let target { target.push(job) } else { wake.signal() }
        }

        func take() -> [Job] {
            state.withLock { s in
                let taken = s.jobs
                s.jobs.removeAll(keepingCapacity: true)
                return taken
            }
        }

        /// From now on jobs pushed here go to `queue`; returns the jobs that were waiting.
        func forward(to queue: Queue) -> [Job] {
            state.withLock { s in
                s.forward = queue
                let taken = s.jobs
                s.jobs = []
                return taken
            }
        }
    }

    /// A run the executor has started and not finished: the watchdog's list of what to fail.
    struct Started: Sendable {
        let job: StartJob
        let startedAt: Double
    }

    let index: Int
    let queue = Queue()
    let load = Atomic<Int>(0)
    /// The deadline (`sb_now` seconds, as bits) of the run the thread is inside right now; 0
    /// while it is between runs.
    let busyDeadline = Atomic<UInt64>(0)
    /// When the thread went into the current run (bits; 0 between runs). Inside one call for
    /// longer than a few time slices, the executor is hogged by a library call: new runs go
    /// elsewhere.
    let busySince = Atomic<UInt64>(0)
    /// When the thread last came out of a run (bits), to retire idle overflow executors.
    let lastActive = Atomic<UInt64>(sb_now().bitPattern)
    /// The run the thread is inside (`inspectRunID` while it loads a hook file).
    let busyRunID = Atomic<Int>(0)
    /// Started by the runtime while every executor was hogged; retired once idle.
    let overflow: Bool
    /// Set while an idle overflow executor is being retired: runs go elsewhere.
    let retiring = Atomic<Bool>(false)
    static let inspectRunID = -1
    let started = Mutex<[Int: Started]>([:])
    let inspecting = Mutex<InspectJob?>(nil)
    /// The Linux thread id, for lowering the priority of a thread left behind.
    let threadID = Atomic<Int32>(0)
    /// Where the thread's Lua states record the host call in progress (an `sb_activity`, by
    /// address; allocated once and never freed, since a stuck thread may still write to it).
    let activityAddress: UInt

    /// Run ids are unique across executors: a resume forwarded to a replacement never matches
    /// one of its own runs.
    static let runIDs = Atomic<Int>(0)
    /// How long loading a hook file may run (its top level, before any event).
    static let inspectSeconds = 5.0
    /// Set by the thread as it ends.
    let exited = Atomic<Bool>(false)

    init(index: Int, timeSlice: Double, testing: Bool = false, overflow: Bool = false) {
        self.index = index
        self.overflow = overflow
        let activity = UnsafeMutablePointer<sb_activity>.allocate(capacity: 1)
        activity.initialize(to: sb_activity())
        activityAddress = UInt(bitPattern: activity)
        // The thread holds the executor for as long as it runs (also when stuck and abandoned).
        let thread = Thread { [self, queue] in
            nameCurrentThread("sloth-lua-\(index)")
            threadID.store(Int32(sloth_gettid()), ordering: .relaxed)
            let loop = ExecutorLoop(executor: self, queue: queue, timeSlice: timeSlice, activity: self.activity, testing: testing)
            loop.run()
            exited.store(true, ordering: .releasing)
            queue.stopped.signal()
        }
        thread.name = "sloth-lua-\(index)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    var activity: UnsafeMutablePointer<sb_activity> { UnsafeMutablePointer(bitPattern: activityAddress)! }

    /// Whether the thread has been inside one call (a library call that does not yield) for
    /// longer than `seconds`.
    func isHogged(now: Double, seconds: Double) -> Bool {
        let since = busySince.load(ordering: .relaxed)
        return since != 0 && now - Double(bitPattern: since) > seconds
    }

    /// `isHogged` as the watchdog last saw it (every few tens of milliseconds): what `pick`
    /// reads, so choosing an executor costs no clock reading.
    let hogged = Atomic<Bool>(false)

    /// Queues a run; the caller has counted it in `load` already (see `LuaRuntime.pick`).
    func submit(_ request: HookRunRequest, completion: @escaping @Sendable (HookRunResult) -> Void) {
        queue.push(.start(StartJob(request: request) { [self] result in
            self.load.subtract(1, ordering: .relaxed)
            completion(result)
        }))
    }

    func inspect(source: String, chunkName: String) async -> Result<HookInspection, SlothError> {
        await withCheckedContinuation { cont in
            queue.push(.inspect(InspectJob(source: source, chunkName: chunkName) { cont.resume(returning: $0) }))
        }
    }

    /// Asks the thread to stop (runs in flight end as failures); returns once it has, or once
    /// the watchdog has abandoned it.
    func stop() {
        if exited.load(ordering: .acquiring) { return }
        queue.push(.stop)
        while queue.stopped.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
            if queue.abandoned.load(ordering: .acquiring) || exited.load(ordering: .acquiring) { return }
        }
    }
}

/// The executor thread's own state; never touched from another thread.
private final class ExecutorLoop {
    let executor: LuaExecutor
    let queue: LuaExecutor.Queue
    let timeSlice: Double
    let activity: UnsafeMutablePointer<sb_activity>
    let testing: Bool
    /// Every live VM; each hosts up to `maxRunsPerVM` runs, so thousands of waiting hooks cost
    /// a few dozen Lua states, not thousands.
    var vms: [LuaVM] = []
    var active: [Int: ActiveRun] = [:]
    static let maxRunsPerVM = 128
    static let maxSpareVMs = 4

    init(executor: LuaExecutor, queue: LuaExecutor.Queue, timeSlice: Double, activity: UnsafeMutablePointer<sb_activity>, testing: Bool) {
        self.executor = executor
        self.queue = queue
        self.timeSlice = timeSlice
        self.activity = activity
        self.testing = testing
    }

    var abandoned: Bool { queue.abandoned.load(ordering: .acquiring) }

    func run() {
        while true {
            queue.wake.wait()
            if abandoned { return leaveBehind() }
            for job in queue.take() {
                if abandoned { return leaveBehind() }
                switch job {
                case .start(let job): start(job)
                case .inspect(let job):
                    executor.inspecting.withLock { $0 = job }
                    let result = inspect(source: job.source, chunkName: job.chunkName)
                    executor.inspecting.withLock { $0 = nil }
                    if abandoned { return leaveBehind() }
                    job.finish(result)
                case .resume(let id, let values):
                    guard let run = active[id] else { continue }
                    run.cancelOperation = nil
                    run.vm.push(values, on: run.thread)
                    step(run, nargs: Int32(values.count))
                case .deadline(let id):
                    guard let run = active[id] else { continue }
                    run.trip = SB_TRIP_TIMEOUT
                    finish(run, success: false, message: tripMessage(run), killed: true)
                case .stop:
                    for run in active.values {
                        finish(run, success: false, message: "the engine shut down before the hook finished", killed: true)
                    }
                    vms.removeAll()
                    return
                }
            }
        }
    }

    /// The watchdog replaced this thread and answered its runs: drop everything and end.
    func leaveBehind() {
        active.removeAll()
        vms.removeAll()
    }

    /// The most recently created VM with room (packing runs keeps the number of states low).
    func checkoutVM() throws(SlothError) -> LuaVM {
        if let vm = vms.last(where: { !$0.retired && $0.activeRuns < Self.maxRunsPerVM }) { return vm }
        let vm = try LuaVM(activity: activity, testing: testing)
        vms.append(vm)
        return vm
    }

    func start(_ job: LuaExecutor.StartJob) {
        let vm: LuaVM
        let chunk: Int32
        do {
            vm = try checkoutVM()
            chunk = try vm.chunk(hash: job.request.sourceHash, source: job.request.source, chunkName: job.request.chunkName).get()
        } catch {
            job.finish(HookRunResult(success: false, message: error.description, output: "", durationMillis: 0, usage: ResourceUsage()))
            return
        }
        let (co, ref, nargs) = vm.prepare(entry: .run, chunk: chunk, event: job.request.event)
        let id = LuaExecutor.runIDs.add(1, ordering: .relaxed).newValue
        let run = ActiveRun(id: id, job: job, vm: vm, thread: co, threadRef: ref)
        vm.activeRuns += 1
        active[run.id] = run
        executor.started.withLock { $0[id] = LuaExecutor.Started(job: job, startedAt: run.startedAt) }
        step(run, nargs: nargs)
    }

    func step(_ run: ActiveRun, nargs: Int32) {
        let vm = run.vm
        let S = vm.state
        // Load this run's share of the limits into the VM it shares with other runs.
        let limits = run.request.limits
        let before = S.pointee.mem_used
        // Garbage this run left may have been collected while another run in the VM had its
        // turn, and counted as freed by that one. Whatever this run owns is at most what the VM
        // holds above its baseline, so phantom usage is dropped here rather than shrinking the
        // run's budget until a harmless hook is killed for memory it no longer has.
        run.memoryUsed = min(run.memoryUsed, max(0, before - vm.baselineBytes))
        S.pointee.run_thread = run.thread
        S.pointee.instr_limit = limits.instructions
        S.pointee.instr_count = run.instructions
        S.pointee.trip = run.trip
        S.pointee.deadline = run.deadline
        S.pointee.mem_limit = limits.memoryBytes > 0 ? before + max(1, limits.memoryBytes - run.memoryUsed) : 0
        S.pointee.mem_base = before
        S.pointee.mem_budget = max(0, limits.memoryBytes)
        S.pointee.mem_refused = 0
        S.pointee.mem_peak = before
        S.pointee.trip_where = nil
        vm.context.run = run
        executor.busyRunID.store(run.id, ordering: .relaxed)
        let began = sb_now()
        executor.busySince.store(began.bitPattern, ordering: .relaxed)
        executor.busyDeadline.store(run.deadline.bitPattern, ordering: .releasing)
        let (status, nres) = vm.resume(run.thread, nargs: nargs, slice: timeSlice, now: began)
        executor.busyDeadline.store(0, ordering: .releasing)
        executor.busySince.store(0, ordering: .relaxed)
        // Only overflow executors retire when idle; the others need no record of it.
        if executor.overflow { executor.lastActive.store(sb_now().bitPattern, ordering: .relaxed) }
        // Stuck past its deadline, this thread was replaced and its runs answered meanwhile.
        if abandoned { return }
        if let place = S.pointee.trip_where { run.tripWhere = String(cString: place) }
        // Save it back. Memory is counted net of what this run freed while it ran (a collection
        // it triggers may free another run's garbage, which only ever makes the count lenient).
        run.instructions = S.pointee.instr_count
        run.trip = S.pointee.trip
        run.memoryPeak = max(run.memoryPeak, run.memoryUsed + (S.pointee.mem_peak - before))
        run.memoryUsed += S.pointee.mem_used - before
        S.pointee.mem_limit = 0
        S.pointee.trip = SB_TRIP_NONE
        S.pointee.run_thread = nil
        vm.context.run = nil
        switch status {
        case LUA_OK:
            let (success, message) = interpretResults(run.thread, count: nres)
            finish(run, success: success, message: message, killed: false)
        case LUA_YIELD:
            if vm.state.pointee.preempted != 0 {
                queue.push(.resume(runID: run.id, values: []))
                return
            }
            guard let op = run.pending else {
                finish(run, success: false, message: "coroutine.yield() was called outside of a coroutine; hooks cannot yield to the engine", killed: false)
                return
            }
            run.pending = nil
            suspend(run, on: op)
        default:
            if run.trip != SB_TRIP_NONE {
                finish(run, success: false, message: tripMessage(run), killed: true)
            } else {
                let message = LuaValues.errorText(at: -1, on: run.thread)
                finish(run, success: false, message: message, killed: false)
            }
        }
    }

    func suspend(_ run: ActiveRun, on op: PendingOperation) {
        let id = run.id
        let queue = self.queue
        if !run.deadlineScheduled {
            run.deadlineScheduled = true
            let remaining = max(0, run.vm.state.pointee.deadline - sb_now())
            DispatchQueue.global().asyncAfter(deadline: .now() + remaining) { queue.push(.deadline(runID: id)) }
        }
        switch op {
        case .sleep(let seconds):
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { queue.push(.resume(runID: id, values: [.bool(true)])) }
        case .task(let work):
            let task = Task {
                switch await work() {
                case .success(let value): queue.push(.resume(runID: id, values: [.bool(true), value]))
                case .failure(let error): queue.push(.resume(runID: id, values: [.bool(false), .string(error.message)]))
                }
            }
            run.cancelOperation = { task.cancel() }
        }
    }

    /// `return true, "msg"` or nothing is success; `return false, "why"` or `return nil, "why"`
    /// is failure.
    func interpretResults(_ co: OpaquePointer, count: Int32) -> (Bool, String?) {
        guard count > 0 else { return (true, nil) }
        let first = -count
        let firstType = lua_type(co, first)
        let second: Int32? = count >= 2 ? first + 1 : nil
        let secondText = second.flatMap { lua_type(co, $0) == LUA_TNIL ? nil : LuaValues.errorText(at: $0, on: co) }
        if firstType == LUA_TBOOLEAN && lua_toboolean(co, first) == 0 {
            return (false, secondText ?? "the hook returned false")
        }
        if firstType == LUA_TNIL && second != nil && secondText != nil {
            return (false, secondText)
        }
        if firstType == LUA_TSTRING { return (true, LuaValues.string(at: first, on: co)) }
        return (true, secondText)
    }

    func tripMessage(_ run: ActiveRun) -> String {
        let limits = run.request.limits
        let place = run.tripWhere.map { " (in \($0))" } ?? ""
        switch run.trip {
        case SB_TRIP_TIMEOUT: return "timeout after \(formatSeconds(millis: limits.timeoutMillis))\(place)"
        case SB_TRIP_MEMORY: return "memory limit \(formatBytes(limits.memoryBytes)) exceeded\(place)"
        case SB_TRIP_INSTRUCTIONS: return "instruction limit of \(limits.instructions) exceeded\(place)"
        default: return "hook killed"
        }
    }

    func finish(_ run: ActiveRun, success: Bool, message: String?, killed: Bool) {
        active[run.id] = nil
        executor.started.withLock { _ = $0.removeValue(forKey: run.id) }
        run.cancelOperation?()
        run.cancelOperation = nil
        let mask = run.revealedIfAny?.mask ?? .none
        let result = HookRunResult(
            success: success, message: message.map { LuaRunMessages.bounded($0, mask: mask) },
            output: run.output.final(mask: mask), durationMillis: run.elapsedMillis,
            usage: run.usage, killed: killed, startedAt: run.startedAt)
        let vm = run.vm
        vm.release(thread: run.thread, ref: run.threadRef)
        vm.activeRuns -= 1
        // A VM where a run was killed may hold half-built state: it takes no new runs and is
        // closed once the runs still suspended in it are done.
        if killed || run.trip != SB_TRIP_NONE { vm.retired = true }
        if vm.activeRuns == 0 && (vm.retired || vms.lazy.filter({ $0.activeRuns == 0 && !$0.retired }).count > Self.maxSpareVMs) {
            vms.removeAll { $0 === vm }
        }
        run.job.finish(result)
    }



    func inspect(source: String, chunkName: String) -> Result<HookInspection, SlothError> {
        let vm: LuaVM
        do { vm = try LuaVM(activity: activity, testing: testing) } catch { return .failure(error) }
        let chunk: Int32
        switch vm.chunk(hash: "inspect", source: source, chunkName: chunkName) {
        case .success(let c): chunk = c
        case .failure(let e): return .failure(e)
        }
        let (co, ref, nargs) = vm.prepare(entry: .inspect, chunk: chunk, event: nil)
        let deadline = sb_now() + LuaExecutor.inspectSeconds
        sb_begin_run(vm.state, co, 64 << 20, 100_000_000, deadline)
        defer { vm.release(thread: co, ref: ref) }
        executor.busyRunID.store(LuaExecutor.inspectRunID, ordering: .relaxed)
        executor.busySince.store(sb_now().bitPattern, ordering: .relaxed)
        executor.busyDeadline.store(deadline.bitPattern, ordering: .releasing)
        let (status, nres) = vm.resume(co, nargs: nargs, slice: 0)
        executor.busyDeadline.store(0, ordering: .releasing)
        executor.busySince.store(0, ordering: .relaxed)
        switch status {
        case LUA_OK:
            guard nres == 2, let kind = LuaValues.string(at: -2, on: co) else {
                return .failure(.invalidHook("the hook file did not load as a hook"))
            }
            var metadata: [String: JSONValue] = [:]
            lua_pushnil(co)
            while lua_next(co, -2) != 0 {
                if let key = LuaValues.string(at: -2, on: co), lua_type(co, -1) != LUA_TFUNCTION {
                    if let value = try? LuaValues.json(at: -1, on: co) {
                        metadata[key] = value
                    } else {
                        metadata[key] = .string("<\(LuaValues.typeName(at: -1, on: co))>")
                    }
                }
                sb_pop(co, 1)
            }
            return .success(HookInspection(contract: kind == "table" ? .returnedTable : .globalOnEvent, metadata: metadata))
        case LUA_YIELD:
            return .failure(.invalidHook("the hook file tried to wait (sleep or dispatch) while loading; do that inside execute(event)"))
        default:
            if vm.tripped != SB_TRIP_NONE {
                return .failure(.invalidHook("loading the hook file was stopped: it ran too long or used too much memory at load time"))
            }
            return .failure(.invalidHook("loading the hook file failed: \(LuaValues.errorText(at: -1, on: co))"))
        }
    }
}

/// How a run's message is recorded.
enum LuaRunMessages {
    static let maxMessageBytes = 4096

    /// Error messages can nest without end (a C stack overflow repeats its position per level).
    /// Masked before they are cut, so no part of a secret stays at the cut.
    static func bounded(_ message: String, mask: SecretMask = .none) -> String {
        let (kept, dropped) = mask.maskedAndBounded(message, limit: maxMessageBytes)
        return dropped > 0 ? kept + "… [\(dropped) more bytes]" : kept
    }
}
