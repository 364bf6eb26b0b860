import Foundation
import Synchronization

/// The sandboxed Lua runtime: a few executor threads, each running many hooks as coroutines.
public final class LuaRuntime: Sendable {
    private let executors: [LuaExecutor]
    private let next = Atomic<Int>(0)

    /// - Parameters:
    ///   - threads: executor threads; defaults to the number of cores.
    ///   - timeSlice: how long a CPU-bound hook runs before others get their turn.
    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, timeSlice: Double = 0.01) {
        executors = (0..<max(1, threads)).map { LuaExecutor(index: $0, timeSlice: timeSlice) }
    }

    /// Runs one hook for one event; never throws: every failure is a result.
    public func run(_ request: HookRunRequest) async -> HookRunResult {
        await withCheckedContinuation { cont in
            pick().submit(request) { cont.resume(returning: $0) }
        }
    }

    /// Starts one hook run; `completion` is called on the executor thread when it ends, so it
    /// must be quick. The engine uses this to avoid a task hop per run.
    public func run(_ request: HookRunRequest, completion: @escaping @Sendable (HookRunResult) -> Void) {
        pick().submit(request, completion: completion)
    }

    /// Loads and runs a hook file once, without an event, to learn its contract and metadata.
    public func inspect(source: String, chunkName: String) async throws(SlothError) -> HookInspection {
        try await pick().inspect(source: source, chunkName: chunkName).get()
    }

    /// The executor with the fewest runs in flight (round-robin among equals).
    private func pick() -> LuaExecutor {
        let start = next.add(1, ordering: .relaxed).newValue
        var best = executors[start % executors.count]
        var bestLoad = best.load.load(ordering: .relaxed)
        for i in 1..<executors.count {
            let e = executors[(start + i) % executors.count]
            let l = e.load.load(ordering: .relaxed)
            if l < bestLoad { best = e; bestLoad = l }
        }
        return best
    }

    /// Stops the executor threads; runs still in flight end as failures.
    public func shutdown() {
        for e in executors { e.stop() }
    }
}
