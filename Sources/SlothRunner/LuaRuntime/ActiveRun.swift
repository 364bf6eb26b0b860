import CLua
import CLuaShim
import Foundation
import Synchronization

/// Secret values a run has read, to be masked in everything recorded about it.
final class RevealedSecrets: Sendable {
    private let values = Mutex<[String]>([])
    func add(_ value: String) { values.withLock { $0.append(value) } }
    var all: [String] { values.withLock { $0 } }
}

/// A hook run in flight on an executor: its VM and coroutine, captured output, the operation it
/// is suspended on, and its own share of the limits. Many runs share one VM; the executor loads a
/// run's counters into the VM when it resumes it and saves them when it yields.
final class ActiveRun {
    let id: Int
    /// The submitted job, kept whole: copying its request out would retain every field of it.
    let job: LuaExecutor.StartJob
    var request: HookRunRequest { job.request }
    let vm: LuaVM
    let thread: OpaquePointer
    let threadRef: Int32
    let startedAt: Double
    let deadline: Double
    /// Net bytes allocated while this run executed, and the peak of that.
    var memoryUsed = 0
    var memoryPeak = 0
    var instructions: Int64 = 0
    var trip: Int32 = SB_TRIP_NONE
    /// The library function a limit tripped in, for the message ("timeout after 5s (in string.find)").
    var tripWhere: String?
    var output: OutputBuffer
    var pending: PendingOperation?
    var deadlineScheduled = false
    /// Made on first use: most runs read no secret.
    private(set) var revealedIfAny: RevealedSecrets?
    var revealed: RevealedSecrets {
        if let r = revealedIfAny { return r }
        let r = RevealedSecrets()
        revealedIfAny = r
        return r
    }
    /// Cancels the asynchronous operation the hook waits on (kills a command, drops a request).
    var cancelOperation: (@Sendable () -> Void)?

    init(id: Int, job: LuaExecutor.StartJob, vm: LuaVM, thread: OpaquePointer, threadRef: Int32) {
        self.id = id
        self.job = job
        self.vm = vm
        self.thread = thread
        self.threadRef = threadRef
        self.startedAt = sb_now()
        self.deadline = startedAt + Double(job.request.limits.timeoutMillis) / 1000
        self.output = OutputBuffer(limit: job.request.maxOutputBytes)
    }

    var elapsedMillis: Int64 { Int64(((sb_now() - startedAt) * 1000).rounded()) }

    var usage: ResourceUsage { ResourceUsage(instructions: instructions, peakMemoryBytes: max(0, memoryPeak)) }
}
