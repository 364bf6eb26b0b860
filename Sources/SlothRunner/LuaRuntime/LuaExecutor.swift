import CLua
import CLuaShim
import Foundation
import Synchronization

/// One OS thread that runs many hooks at once as Lua coroutines. A hook that sleeps or waits for
/// I/O suspends its coroutine and the thread moves on; a CPU-bound hook is preempted by the
/// count hook after its time slice and queued behind the others.
final class LuaExecutor: Sendable {
    enum Job: Sendable {
        /// Boxed: jobs are copied in and out of the queue, and a request has many fields.
        case start(StartJob)
        case inspect(source: String, chunkName: String, @Sendable (Result<HookInspection, SlothError>) -> Void)
        case resume(runID: Int, values: [JSONValue])
        case deadline(runID: Int)
        case stop
    }

    final class StartJob: Sendable {
        let request: HookRunRequest
        let complete: @Sendable (HookRunResult) -> Void
        init(request: HookRunRequest, complete: @escaping @Sendable (HookRunResult) -> Void) {
            self.request = request
            self.complete = complete
        }
    }

    final class Queue: Sendable {
        let jobs = Mutex<[Job]>([])
        let wake = DispatchSemaphore(value: 0)
        let stopped = DispatchSemaphore(value: 0)

        func push(_ job: Job) {
            jobs.withLock { $0.append(job) }
            wake.signal()
        }
    }

    let queue = Queue()
    let load = Atomic<Int>(0)

    init(index: Int, timeSlice: Double) {
        let queue = self.queue
        let thread = Thread {
            nameCurrentThread("sloth-lua-\(index)")
            let loop = ExecutorLoop(queue: queue, timeSlice: timeSlice)
            loop.run()
            queue.stopped.signal()
        }
        thread.name = "sloth-lua-\(index)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    func submit(_ request: HookRunRequest, completion: @escaping @Sendable (HookRunResult) -> Void) {
        load.add(1, ordering: .relaxed)
        queue.push(.start(StartJob(request: request) { [self] result in
            self.load.subtract(1, ordering: .relaxed)
            completion(result)
        }))
    }

    func inspect(source: String, chunkName: String) async -> Result<HookInspection, SlothError> {
        await withCheckedContinuation { cont in
            queue.push(.inspect(source: source, chunkName: chunkName, { cont.resume(returning: $0) }))
        }
    }

    func stop() {
        queue.push(.stop)
        queue.stopped.wait()
    }
}

/// The executor thread's own state; never touched from another thread.
private final class ExecutorLoop {
    let queue: LuaExecutor.Queue
    let timeSlice: Double
    /// Every live VM; each hosts up to `maxRunsPerVM` runs, so thousands of waiting hooks cost
    /// a few dozen Lua states, not thousands.
    var vms: [LuaVM] = []
    var active: [Int: ActiveRun] = [:]
    var nextID = 0
    static let maxRunsPerVM = 128
    static let maxSpareVMs = 4

    init(queue: LuaExecutor.Queue, timeSlice: Double) {
        self.queue = queue
        self.timeSlice = timeSlice
    }

    func run() {
        while true {
            queue.wake.wait()
            let jobs = queue.jobs.withLock { jobs -> [LuaExecutor.Job] in
                let taken = jobs
                jobs.removeAll(keepingCapacity: true)
                return taken
            }
            for job in jobs {
                switch job {
                case .start(let job): start(job)
                case .inspect(let source, let name, let complete): complete(inspect(source: source, chunkName: name))
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

    /// The most recently created VM with room (packing runs keeps the number of states low).
    func checkoutVM() throws(SlothError) -> LuaVM {
        if let vm = vms.last(where: { !$0.retired && $0.activeRuns < Self.maxRunsPerVM }) { return vm }
        let vm = try LuaVM()
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
            job.complete(HookRunResult(success: false, message: error.description, output: "", durationMillis: 0, usage: ResourceUsage()))
            return
        }
        let (co, ref, nargs) = vm.prepare(entry: .run, chunk: chunk, event: job.request.event)
        nextID += 1
        let run = ActiveRun(id: nextID, job: job, vm: vm, thread: co, threadRef: ref)
        vm.activeRuns += 1
        active[run.id] = run
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
        vm.context.run = run
        let (status, nres) = vm.resume(run.thread, nargs: nargs, slice: timeSlice)
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
        switch run.trip {
        case SB_TRIP_TIMEOUT: return "timeout after \(formatSeconds(millis: limits.timeoutMillis))"
        case SB_TRIP_MEMORY: return "memory limit \(formatBytes(limits.memoryBytes)) exceeded"
        case SB_TRIP_INSTRUCTIONS: return "instruction limit of \(limits.instructions) exceeded"
        default: return "hook killed"
        }
    }

    func finish(_ run: ActiveRun, success: Bool, message: String?, killed: Bool) {
        active[run.id] = nil
        run.cancelOperation?()
        run.cancelOperation = nil
        let secrets = run.revealedIfAny?.all ?? []
        let result = HookRunResult(
            success: success, message: message.map { Redactor.redact(Self.bounded($0), secrets) },
            output: Redactor.redact(run.output.final, secrets), durationMillis: run.elapsedMillis,
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
        run.complete(result)
    }

    static let maxMessageBytes = 4096

    /// Error messages can nest without end (a C stack overflow repeats its position per level).
    static func bounded(_ message: String) -> String {
        guard message.utf8.count > maxMessageBytes else { return message }
        let head = String(decoding: Array(message.utf8.prefix(maxMessageBytes)), as: UTF8.self)
        return head + "… [\(message.utf8.count - maxMessageBytes) more bytes]"
    }

    func inspect(source: String, chunkName: String) -> Result<HookInspection, SlothError> {
        let vm: LuaVM
        do { vm = try LuaVM() } catch { return .failure(error) }
        let chunk: Int32
        switch vm.chunk(hash: "inspect", source: source, chunkName: chunkName) {
        case .success(let c): chunk = c
        case .failure(let e): return .failure(e)
        }
        let (co, ref, nargs) = vm.prepare(entry: .inspect, chunk: chunk, event: nil)
        sb_begin_run(vm.state, co, 64 << 20, 100_000_000, sb_now() + 5)
        defer { vm.release(thread: co, ref: ref) }
        let (status, nres) = vm.resume(co, nargs: nargs, slice: 0)
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
