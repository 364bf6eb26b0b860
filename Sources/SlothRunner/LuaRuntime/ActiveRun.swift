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

/// A hook run in flight on an executor: its VM and coroutine, captured output, and the
/// operation it is suspended on, if any.
final class ActiveRun {
    let id: Int
    let request: HookRunRequest
    let vm: LuaVM
    let thread: OpaquePointer
    let threadRef: Int32
    let startedAt: Double
    let memoryBase: Int
    var output: OutputBuffer
    var pending: PendingOperation?
    var deadlineScheduled = false
    let revealed = RevealedSecrets()
    /// Cancels the asynchronous operation the hook waits on (kills a command, drops a request).
    var cancelOperation: (@Sendable () -> Void)?
    let complete: @Sendable (HookRunResult) -> Void

    init(id: Int, request: HookRunRequest, vm: LuaVM, thread: OpaquePointer, threadRef: Int32, complete: @escaping @Sendable (HookRunResult) -> Void) {
        self.id = id
        self.request = request
        self.vm = vm
        self.thread = thread
        self.threadRef = threadRef
        self.startedAt = sb_now()
        self.memoryBase = vm.state.pointee.mem_used
        self.output = OutputBuffer(limit: request.maxOutputBytes)
        self.complete = complete
    }

    var elapsedMillis: Int64 { Int64(((sb_now() - startedAt) * 1000).rounded()) }

    var usage: ResourceUsage {
        ResourceUsage(
            instructions: vm.state.pointee.instr_count,
            peakMemoryBytes: max(0, vm.state.pointee.mem_peak - memoryBase))
    }
}
