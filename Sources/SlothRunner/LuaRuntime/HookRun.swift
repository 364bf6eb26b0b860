import Logging
/// Everything one hook run needs; crosses from the engine to an executor thread.
///
/// What every run of a hook shares (its source, limits, permissions, ...) sits in one immutable
/// object: a request is copied several times per run on different threads, and one reference
/// costs one retain where a dozen fields cost a dozen (on cache lines every thread touches).
package struct HookRunRequest: Sendable {
    struct Shared: Sendable {
        var hookID: String
        var hookName: String
        var source: String
        var sourceHash: String
        var chunkName: String
        var limits: HookLimits
        var maxOutputBytes: Int
        var dispatcher: (@Sendable (NewEvent) async -> Result<String, SlothError>)?
        var maxChainDepth: Int
        var maxDispatchesPerRun = 1000
        var permissions: PermissionPolicy = .open
        var state: (any StateAccess)?
        var secrets: (any SecretReading)?
        /// Set for a what-if or test-case run: side effects are recorded, not performed.
        var sandbox: HookSandbox?
        /// Set for a hook with `effects = "once"`: completed calls are not made twice.
        var effectJournal: EffectJournal?
        /// Receives the hook's `log.*` lines too (they stay in the run's output as well).
        var logger: Logger?
    }

    final class SharedBox: Sendable {
        let value: Shared
        init(_ value: Shared) { self.value = value }
    }

    private var shared: SharedBox

    /// The event as the hook sees it (`id`, `type`, `stack`, `timestamp`, `data`, `attempt`, ...).
    package var event: HookRunEvent
    package var eventStack: String?
    package var chainDepth: Int

    package var hookID: String {
        get { shared.value.hookID }
        set { update { $0.hookID = newValue } }
    }
    package var hookName: String {
        get { shared.value.hookName }
        set { update { $0.hookName = newValue } }
    }
    package var source: String {
        get { shared.value.source }
        set { update { $0.source = newValue } }
    }
    package var sourceHash: String {
        get { shared.value.sourceHash }
        set { update { $0.sourceHash = newValue } }
    }
    /// How errors name the script, e.g. `notify.lua`.
    package var chunkName: String {
        get { shared.value.chunkName }
        set { update { $0.chunkName = newValue } }
    }
    package var limits: HookLimits {
        get { shared.value.limits }
        set { update { $0.limits = newValue } }
    }
    package var maxOutputBytes: Int {
        get { shared.value.maxOutputBytes }
        set { update { $0.maxOutputBytes = newValue } }
    }
    /// Persists an event dispatched by the hook; returns its id. Nil: `event.dispatch` fails.
    package var dispatcher: (@Sendable (NewEvent) async -> Result<String, SlothError>)? {
        get { shared.value.dispatcher }
        set { update { $0.dispatcher = newValue } }
    }
    package var maxChainDepth: Int {
        get { shared.value.maxChainDepth }
        set { update { $0.maxChainDepth = newValue } }
    }
    /// Most events one run may dispatch (`event.dispatch` fails beyond it).
    package var maxDispatchesPerRun: Int {
        get { shared.value.maxDispatchesPerRun }
        set { update { $0.maxDispatchesPerRun = newValue } }
    }
    /// What the hook may use (`exec`, `http`, `file`, `secrets`, `env`).
    package var permissions: PermissionPolicy {
        get { shared.value.permissions }
        set { update { $0.permissions = newValue } }
    }
    /// The key-value state the `state` module reads and writes; nil: unavailable.
    package var state: (any StateAccess)? {
        get { shared.value.state }
        set { update { $0.state = newValue } }
    }
    /// Where `secret.get` reads from; nil: unavailable.
    package var secrets: (any SecretReading)? {
        get { shared.value.secrets }
        set { update { $0.secrets = newValue } }
    }
    /// The journal of a hook with `effects = "once"` (see `EffectJournal`).
    package var effectJournal: EffectJournal? {
        get { shared.value.effectJournal }
        set { update { $0.effectJournal = newValue } }
    }
    /// Recording instead of performing (see `HookSandbox`); nil: a real run.
    package var sandbox: HookSandbox? {
        get { shared.value.sandbox }
        set { update { $0.sandbox = newValue } }
    }
    /// Where the hook's `log.*` lines go besides its output (the daemon's log), with the hook
    /// and event as metadata.
    package var logger: Logger? {
        get { shared.value.logger }
        set { update { $0.logger = newValue } }
    }

    private mutating func update(_ change: (inout Shared) -> Void) {
        var value = shared.value
        change(&value)
        shared = SharedBox(value)
    }

    package init(
        hookID: String, hookName: String, source: String, sourceHash: String, chunkName: String, event: HookRunEvent,
        eventStack: String?, chainDepth: Int, limits: HookLimits, maxOutputBytes: Int = 64 * 1024,
        dispatcher: (@Sendable (NewEvent) async -> Result<String, SlothError>)?, maxChainDepth: Int = 8
    ) {
        shared = SharedBox(Shared(
            hookID: hookID, hookName: hookName, source: source, sourceHash: sourceHash, chunkName: chunkName,
            limits: limits, maxOutputBytes: maxOutputBytes, dispatcher: dispatcher, maxChainDepth: maxChainDepth))
        self.event = event
        self.eventStack = eventStack
        self.chainDepth = chainDepth
    }
}

/// The event a hook run receives as its argument (and as the global `event`).
package enum HookRunEvent: Sendable {
    /// An engine event, handed to Lua field by field (no intermediate JSON object per run).
    case event(HookEventView)
    /// Any table, e.g. a hand-written event.
    case value(JSONValue)

    package static func object(_ fields: [String: JSONValue]) -> HookRunEvent { .value(.object(fields)) }

    /// The event's id, if it has one.
    package var id: String? {
        switch self {
        case .event(let view): return view.id
        case .value(let value): return value["id"]?.stringValue
        }
    }

    /// The same event as one JSON object.
    package var json: JSONValue {
        switch self {
        case .event(let view): return view.json
        case .value(let value): return value
        }
    }
}

/// The fields of an event a hook sees: `id`, `type`, `stack`, `timestamp`, `data`, `attempt`,
/// `chain_depth` and `parent_id`.
package struct HookEventView: Sendable {
    /// The whole event, which shares its fields (one retain per copy, see `Event`).
    package let event: Event
    package let attempt: Int

    package init(_ event: Event, attempt: Int) {
        self.event = event
        self.attempt = attempt
    }

    package var id: String { event.id }
    package var type: String { event.type }
    package var stack: String? { event.stack }
    package var timestamp: Int64 { event.timestamp }
    package var data: JSONValue { event.data }
    package var chainDepth: Int { event.chainDepth }
    package var parentID: String? { event.parentID }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "type": .string(type), "timestamp": .int(timestamp), "data": data,
            "attempt": .int(Int64(attempt)), "chain_depth": .int(Int64(chainDepth)),
        ]
        if let stack { o["stack"] = .string(stack) }
        if let parentID { o["parent_id"] = .string(parentID) }
        return .object(o)
    }
}

/// What a hook run produced.
package struct HookRunResult: Sendable, Equatable {
    package var success: Bool
    /// The message the hook returned, or the error that ended it.
    package var message: String?
    package var output: String
    package var durationMillis: Int64
    package var usage: ResourceUsage
    /// Set when the runtime killed the run (timeout, memory, instructions).
    package var killed: Bool
    /// When the hook began running, in `monotonicSeconds()`.
    package var startedAt: Double

    package init(success: Bool, message: String?, output: String, durationMillis: Int64, usage: ResourceUsage, killed: Bool = false, startedAt: Double = 0) {
        self.success = success
        self.message = message
        self.output = output
        self.durationMillis = durationMillis
        self.usage = usage
        self.killed = killed
        self.startedAt = startedAt
    }
}

/// The shape of a hook file, found by running it once in the sandbox.
public struct HookInspection: Sendable, Equatable {
    /// The two forms a hook file can take: a returned table with `execute`, or globals (`hook` and `on_event`).
    public enum Contract: String, Sendable { case returnedTable = "table", globalOnEvent = "global" }
    /// Which form this file is in.
    public var contract: Contract
    /// Non-function fields of the hook table (or of the global `hook` table in the older form).
    public var metadata: [String: JSONValue]
}

/// Captured `print` and `log` output, bounded so a chatty hook cannot fill the database.
///
/// Kept raw a little past the limit and masked as a whole before it is cut (see `final`): a
/// secret printed across the cut would otherwise be stored in part.
struct OutputBuffer {
    private(set) var text = ""
    /// Bytes beyond what is kept raw.
    private(set) var dropped = 0
    let limit: Int

    /// Room beyond the limit: the longest form of the longest secret (64 KiB URL-encoded can
    /// triple), so every secret that reaches into the kept part is whole when it is masked.
    static let maskMargin = 3 * SecretVault.maxValueBytes + 16

    init(limit: Int) { self.limit = limit }

    private var capacity: Int { limit + Self.maskMargin }

    mutating func append(_ line: String) {
        let room = capacity - text.utf8.count
        let needed = line.utf8.count + 1
        if needed <= room {
            text += line
            text += "\n"
        } else {
            if room > 0 && dropped == 0 {
                let cut = String(decoding: Array(line.utf8.prefix(room)), as: UTF8.self)
                text += cut
                dropped += needed - cut.utf8.count
            } else {
                dropped += needed
            }
        }
    }

    /// The output as it is recorded: secrets masked, then cut to the limit.
    func final(mask: SecretMask = .none) -> String {
        let (kept, cut) = mask.maskedAndBounded(text, limit: limit, cutAlready: dropped > 0)
        let total = cut + dropped
        return total > 0 ? kept + "\n[output truncated: \(total) bytes dropped]" : kept
    }
}

func formatBytes(_ bytes: Int) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
    if bytes >= 1 << 20 { return String(format: "%.1f MiB", Double(bytes) / Double(1 << 20)) }
    if bytes >= 1 << 10 { return "\(bytes >> 10) KiB" }
    return "\(bytes) bytes"
}

func formatSeconds(millis: Int64) -> String {
    millis % 1000 == 0 ? "\(millis / 1000)s" : String(format: "%.3gs", Double(millis) / 1000)
}
