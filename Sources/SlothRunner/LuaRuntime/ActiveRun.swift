import CLua
import CLuaShim
import Foundation
import Synchronization

/// Secrets a run has read (name and value), to be masked in everything recorded about it and
/// refused where a hook would store them.
final class RevealedSecrets: Sendable {
    private let secrets = Mutex<(all: [(name: String, value: String)], mask: SecretMask?)>(([], nil))

    func add(name: String, value: String) {
        secrets.withLock { s in
            guard !s.all.contains(where: { $0.name == name && $0.value == value }) else { return }
            s.all.append((name, value))
            s.mask = nil
        }
    }

    /// Every form of every secret read so far (built once per change).
    var mask: SecretMask {
        secrets.withLock { s in
            if let m = s.mask { return m }
            let m = SecretMask(s.all)
            s.mask = m
            return m
        }
    }
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
    /// Events this run has dispatched so far: the position of the next one in its origin key.
    var dispatched = 0
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
