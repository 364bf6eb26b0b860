/// Everything one hook run needs; crosses from the engine to an executor thread.
public struct HookRunRequest: Sendable {
    public var hookID: String
    public var hookName: String
    public var source: String
    public var sourceHash: String
    /// How errors name the script, e.g. `notify.lua`.
    public var chunkName: String
    /// The event as the hook sees it (`id`, `type`, `stack`, `timestamp`, `data`, `attempt`, ...).
    public var event: HookRunEvent
    public var eventStack: String?
    public var chainDepth: Int
    public var limits: HookLimits
    public var maxOutputBytes: Int
    /// Persists an event dispatched by the hook; returns its id. Nil: `event.dispatch` fails.
    public var dispatcher: (@Sendable (NewEvent) async -> Result<String, SlothError>)?
    public var maxChainDepth: Int
    /// What the hook may use (`exec`, `http`, `file`, `secrets`, `env`).
    public var permissions: PermissionPolicy = .open
    /// The key-value state the `state` module reads and writes; nil: unavailable.
    public var state: (any StateAccess)?
    /// Where `secret.get` reads from; nil: unavailable.
    public var secrets: SecretVault?

    public init(
        hookID: String, hookName: String, source: String, sourceHash: String, chunkName: String, event: HookRunEvent,
        eventStack: String?, chainDepth: Int, limits: HookLimits, maxOutputBytes: Int = 64 * 1024,
        dispatcher: (@Sendable (NewEvent) async -> Result<String, SlothError>)?, maxChainDepth: Int = 8
    ) {
        self.hookID = hookID
        self.hookName = hookName
        self.source = source
        self.sourceHash = sourceHash
        self.chunkName = chunkName
        self.event = event
        self.eventStack = eventStack
        self.chainDepth = chainDepth
        self.limits = limits
        self.maxOutputBytes = maxOutputBytes
        self.dispatcher = dispatcher
        self.maxChainDepth = maxChainDepth
    }
}

/// The event a hook run receives as its argument (and as the global `event`).
public enum HookRunEvent: Sendable {
    /// An engine event, handed to Lua field by field (no intermediate JSON object per run).
    case event(HookEventView)
    /// Any table, e.g. a hand-written event.
    case value(JSONValue)

    public static func object(_ fields: [String: JSONValue]) -> HookRunEvent { .value(.object(fields)) }

    /// The event's id, if it has one.
    public var id: String? {
        switch self {
        case .event(let view): return view.id
        case .value(let value): return value["id"]?.stringValue
        }
    }

    /// The same event as one JSON object.
    public var json: JSONValue {
        switch self {
        case .event(let view): return view.json
        case .value(let value): return value
        }
    }
}

/// The fields of an event a hook sees: `id`, `type`, `stack`, `timestamp`, `data`, `attempt`,
/// `chain_depth` and `parent_id`.
public struct HookEventView: Sendable {
    public var id: String
    public var type: String
    public var stack: String?
    public var timestamp: Int64
    public var data: JSONValue
    public var attempt: Int
    public var chainDepth: Int
    public var parentID: String?

    public init(_ event: Event, attempt: Int) {
        id = event.id
        type = event.type
        stack = event.stack
        timestamp = event.timestamp
        data = event.data
        self.attempt = attempt
        chainDepth = event.chainDepth
        parentID = event.parentID
    }

    public var json: JSONValue {
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
public struct HookRunResult: Sendable, Equatable {
    public var success: Bool
    /// The message the hook returned, or the error that ended it.
    public var message: String?
    public var output: String
    public var durationMillis: Int64
    public var usage: ResourceUsage
    /// Set when the runtime killed the run (timeout, memory, instructions).
    public var killed: Bool
    /// When the hook began running, in `monotonicSeconds()`.
    public var startedAt: Double

    public init(success: Bool, message: String?, output: String, durationMillis: Int64, usage: ResourceUsage, killed: Bool = false, startedAt: Double = 0) {
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
    public enum Contract: String, Sendable { case returnedTable = "table", globalOnEvent = "global" }
    public var contract: Contract
    /// Non-function fields of the hook table (or of the global `hook` table in the older form).
    public var metadata: [String: JSONValue]
}

/// Captured `print` and `log` output, bounded so a chatty hook cannot fill the database.
struct OutputBuffer {
    private(set) var text = ""
    private(set) var dropped = 0
    let limit: Int

    init(limit: Int) { self.limit = limit }

    mutating func append(_ line: String) {
        let room = limit - text.utf8.count
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

    var final: String {
        dropped > 0 ? text + "\n[output truncated: \(dropped) bytes dropped]" : text
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
