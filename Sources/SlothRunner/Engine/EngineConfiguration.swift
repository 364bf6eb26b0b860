import Foundation
import Logging

/// How an engine runs. Every field has a default an operator would pick.
public struct EngineConfiguration: Sendable {
    /// Events processed at once (the specification's worker pool).
    public var workers = 100
    /// Claimed events waiting in memory for a worker; beyond it events wait in the store.
    public var queueCapacity = 1000
    /// Names this node in lease owners; a restarted node reclaims its own leases at once.
    public var nodeID: String = ProcessInfo.processInfo.hostName.isEmpty ? "node" : ProcessInfo.processInfo.hostName
    /// This node's tags (`--node-tag`): a hook declaring `nodes = {...}` runs only on a node
    /// with all of them; the events it still owes wait for one.
    public var nodeTags: [String] = []
    /// The version this engine reports in the node registry (`sloth-runner nodes`).
    public var version: String = "unknown"
    /// How long a claim lasts without renewal; the renewer extends it every third of that.
    public var leaseMillis: Int64 = 30_000
    /// How often the store is checked for events dispatched by other processes and due retries.
    public var pollMillis: Int64 = 20
    /// Whether to claim pending events from the store (off: only events dispatched here run).
    public var claimsFromStore = true
    /// Largest event data accepted, serialized, in bytes.
    public var maxDataBytes = NewEvent.defaultMaxDataBytes
    /// Longest chain of events dispatched by hooks from one root event.
    public var maxChainDepth = 8
    /// Most events one hook run may dispatch.
    public var maxDispatchesPerRun = 1000
    /// Output (print, log) kept per hook run, in bytes; the rest is cut with a note.
    public var maxOutputBytes = 64 * 1024
    /// Lua executor threads.
    public var luaThreads = ProcessInfo.processInfo.activeProcessorCount
    /// Completed events older than this are pruned (nil: never).
    public var retainCompletedMillis: Int64? = 7 * 86_400_000
    /// Failed events older than this are pruned (nil: never).
    public var retainFailedMillis: Int64? = 30 * 86_400_000
    /// How long the change journal behind the live stream (`GET /stream`) keeps its entries:
    /// a client reconnecting within it misses nothing; one reconnecting later is told what was
    /// pruned (nil: kept forever).
    public var retainChangesMillis: Int64? = 86_400_000
    /// Environment variables hooks may read with `env.get`; nil: all (the specification's
    /// "hooks run with sloth-runner permissions").
    public var hookEnvironment: Set<String>?
    /// Where hooks' `secret.get` reads from; nil: secrets unavailable.
    public var secrets: SecretVault?
    /// Deny every capability a hook has not declared (`serve --strict-permissions`).
    public var strictPermissions = false
    /// Observes what the engine does (benchmarks, `--wait`); must be fast.
    public var observer: (@Sendable (EngineObservation) -> Void)?
    /// Told, once, when the engine cannot go on (its database file was deleted, say): the
    /// embedding program should drain it and stop.
    public var onFatal: (@Sendable (SlothError) -> Void)?
    /// Called when a part of the engine fails and goes on trying (claiming from the store, a
    /// periodic duty), at most once per part every 30 s: `serve` turns it into `system.error`.
    /// `component` names the part (`store`, `duty:lease-keeper`).
    public var onComponentError: (@Sendable (_ component: String, _ error: String) -> Void)?
    /// Where the engine logs: each event's outcome at debug, hook failures and retries at
    /// warning, dead letters and store errors at error, lease rescues at notice; hooks' own
    /// `log.*` lines at their level. The default writes nothing: the embedding program chooses.
    public var logger = Logger(label: "sloth-runner", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The defaults.
    public init() {}

    /// Checks every setting against what the engine can do; the error names the setting (and
    /// the `serve` flag that sets it).
    public func validate() throws(SlothError) {
        func range(_ value: Int64, _ bounds: ClosedRange<Int64>, _ name: String, _ flag: String) throws(SlothError) {
            guard bounds.contains(value) else {
                throw .invalidInput("\(name) must be from \(bounds.lowerBound) to \(bounds.upperBound) (serve \(flag)), not \(value)")
            }
        }
        try range(Int64(workers), 1...100_000, "workers", "--workers")
        try range(Int64(queueCapacity), 1...10_000_000, "the queue size", "--queue-size")
        try range(leaseMillis, 1000...86_400_000, "the lease in milliseconds", "--lease")
        try range(pollMillis, 1...3_600_000, "the poll interval in milliseconds", "--poll")
        try range(Int64(maxDataBytes), 1...(64 << 20), "the largest event data in bytes", "--max-data-bytes")
        try range(Int64(maxChainDepth), 0...100, "the chain depth", "--max-chain-depth")
        try range(Int64(maxDispatchesPerRun), 0...1_000_000, "the events one run may dispatch", "--max-dispatches-per-run")
        try range(Int64(maxOutputBytes), 0...(16 << 20), "the output kept per run in bytes", "--max-output-bytes")
        try range(Int64(luaThreads), 1...256, "the Lua threads", "--lua-threads")
        if let keep = retainCompletedMillis { try range(keep, 1...(100 * 365 * 86_400_000), "the retention of completed events", "--retain-completed") }
        if let keep = retainChangesMillis { try range(keep, 1000...(100 * 365 * 86_400_000), "the retention of the change journal", "--retain-changes") }
        if let keep = retainFailedMillis { try range(keep, 1...(100 * 365 * 86_400_000), "the retention of failed events", "--retain-failed") }
    }
}

/// What `EngineConfiguration.observer` is told, as it happens.
public enum EngineObservation: Sendable {
    /// A hook began running for an event; `at` is `monotonicSeconds()`.
    case hookStarted(eventID: String, at: Double)
    /// An event's processing was recorded with this status.
    case eventRecorded(eventID: String, status: EventStatus)
    /// Outcomes could not be written (they are kept and tried again with backoff).
    case outcomeWriteFailed(outcomes: Int, error: String)
    /// Outcomes are being written again after failed writes.
    case outcomesRecovered(afterFailedWrites: Int)
}

/// Seconds on the monotonic clock the runtime uses.
package func monotonicSeconds() -> Double {
    Double(monotonicNanos()) / 1e9
}

/// Nanoseconds on the same clock, for deadlines kept as integers.
package func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
