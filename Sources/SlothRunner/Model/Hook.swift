/// A registered hook: its metadata and the exact source that runs (a later edit of the file on
/// disk changes nothing until `hook update`).
public struct Hook: Sendable, Equatable {
    /// The hook's stable id (kept across `hook update`).
    public var id: String
    /// The unique name hooks are managed by.
    public var name: String
    /// What the hook is for, as its author put it.
    public var description: String?
    /// One or more types or patterns, as given by the hook.
    public var eventTypes: [String]
    /// The file the source was read from (or the name given to a source from a string).
    public var filePath: String
    /// The stack whose events it sees; nil: every stack.
    public var stack: String?
    /// A disabled hook is kept but runs for nothing.
    public var enabled: Bool
    /// When it was registered and last changed, in Unix milliseconds.
    public var createdAt: Millis
    public var updatedAt: Millis
    /// When it last ran, and how many times it has.
    public var lastRun: Millis?
    public var runCount: Int
    /// The Lua source that runs, and its SHA-256 (hex).
    public var source: String
    public var sourceHash: String
    /// The limits of each of its runs.
    public var limits: HookLimits
    /// How many times it runs for one event before it is dead-lettered.
    public var maxAttempts: Int
    /// Base delay of the exponential retry backoff, in milliseconds.
    public var retryDelayMillis: Int64
    /// Capabilities the hook declared; nil when it declared none.
    public var permissions: HookPermissions?
    /// Condition on the event's data; nil: every event of its types and stack.
    public var filter: DataFilter?
    /// Tags a node must all have to run this hook (`nodes = {"web"}`); empty: any node.
    public var nodeTags: [String]
    /// Storm control (throttle, debounce, rate limit, concurrency, circuit breaker) and `effects`.
    public var controls: HookControls

    package init(
        id: String, name: String, description: String?, eventTypes: [String], filePath: String,
        stack: String?, enabled: Bool, createdAt: Millis, updatedAt: Millis, lastRun: Millis? = nil,
        runCount: Int = 0, source: String, sourceHash: String, limits: HookLimits,
        maxAttempts: Int, retryDelayMillis: Int64, permissions: HookPermissions? = nil, filter: DataFilter? = nil,
        nodeTags: [String] = [], controls: HookControls = HookControls()
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.eventTypes = eventTypes
        self.filePath = filePath
        self.stack = stack
        self.enabled = enabled
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastRun = lastRun
        self.runCount = runCount
        self.source = source
        self.sourceHash = sourceHash
        self.limits = limits
        self.maxAttempts = maxAttempts
        self.retryDelayMillis = retryDelayMillis
        self.permissions = permissions
        self.filter = filter
        self.nodeTags = nodeTags
        self.controls = controls
    }

    /// Whether a node with `tags` may run this hook.
    package func runs(onNodeTagged tags: [String]) -> Bool { nodeTags.allSatisfy(tags.contains) }

    /// A tag list as stored (`["web","eu"]`), or nil when empty.
    package static func storedTags(_ tags: [String]) -> String? {
        tags.isEmpty ? nil : JSONValue.array(tags.map(JSONValue.string)).serialized()
    }

    /// Tags read back from `storedTags`.
    package static func tags(stored text: String?) -> [String] {
        guard let text, let list = (try? JSONValue.parse(text))?.arrayValue else { return [] }
        return list.compactMap(\.stringValue)
    }

    /// A node tag: what `--node-tag` and a hook's `nodes` accept.
    package static func validateNodeTag(_ tag: String, field: String) throws(SlothError) {
        guard !tag.isEmpty, tag.utf8.count <= 64,
            tag.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E })
        else { throw .invalidHook("\(field): node tag '\(tag)' must be 1-64 characters of letters, digits, '_', '-' or '.'") }
    }

    package var eventTypeText: String { eventTypes.joined(separator: ",") }

    /// Whether this hook should run for an event of `type` in `stack` (and, when given, with
    /// `data`, which its filter must accept). A hook with a stack sees only that stack's events;
    /// a hook without one sees every event.
    public func matches(type: String, stack eventStack: String?, data: JSONValue? = nil) -> Bool {
        CompiledHook(self).matches(type: type, stack: eventStack, data: data)
    }

    /// Defaults for hooks that set no attempts or retry delay.
    public static let defaultMaxAttempts = 3
    public static let defaultRetryDelayMillis: Int64 = 1000

    package static func validateName(_ name: String) throws(SlothError) {
        guard !name.isEmpty, name.utf8.count <= 128,
            name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E })
        else {
            throw .invalidHook("hook name '\(name)' must be 1-128 characters of letters, digits, '_', '-' or '.'")
        }
    }
}

/// A hook with its event patterns parsed once, for matching on the hot path.
package struct CompiledHook: Sendable {
    package let hook: Hook
    /// The name Lua reports in error positions (the file's last path component).
    package let chunkName: String
    private let patterns: [EventPattern]

    package init(_ hook: Hook) {
        self.hook = hook
        self.chunkName = hook.filePath.split(separator: "/").last.map(String.init) ?? hook.filePath
        self.patterns = hook.eventTypes.compactMap { try? EventPattern($0) }
    }

    /// `data` nil skips the data filter (listing hooks by type, for instance).
    package func matches(type: String, stack eventStack: String?, data: JSONValue? = nil) -> Bool {
        if let stack = hook.stack, stack != eventStack { return false }
        guard patterns.contains(where: { $0.matches(type) }) else { return false }
        if let filter = hook.filter, let data { return filter.matches(data) }
        return true
    }
}

/// Resource limits of one hook run, enforced by the runtime.
public struct HookLimits: Sendable, Equatable {
    /// Wall-clock bound of one run.
    public var timeoutMillis: Int64
    /// Bound of the run's Lua heap.
    public var memoryBytes: Int
    /// Bound of the Lua VM instructions one run may execute.
    public var instructions: Int64

    /// The limits of a hook that sets none: 30 s, 64 MiB, 2 billion instructions.
    public static let defaultTimeoutMillis: Int64 = 30_000
    /// What a hook's timeout and retry delay may be, in seconds: a millisecond to a day.
    public static let durationRange: ClosedRange<Double> = 0.001...86_400
    public static let defaultMemoryBytes = 64 << 20
    public static let defaultInstructions: Int64 = 2_000_000_000

    /// Limits with the defaults for whatever is not given.
    public init(
        timeoutMillis: Int64 = defaultTimeoutMillis, memoryBytes: Int = defaultMemoryBytes,
        instructions: Int64 = defaultInstructions
    ) {
        self.timeoutMillis = timeoutMillis
        self.memoryBytes = memoryBytes
        self.instructions = instructions
    }
}

extension Hook {
    /// The hook as `hook get -o json` prints it (docs/cli-json.md), with its statistics if given.
    package func json(stats: HookStats?) -> JSONValue {
        let h = self
        var o: [String: JSONValue] = [
            "id": .string(h.id), "name": .string(h.name), "event_types": .array(h.eventTypes.map(JSONValue.string)),
            "file_path": .string(h.filePath), "enabled": .bool(h.enabled),
            "run_count": .int(Int64(h.runCount)), "source_hash": .string(h.sourceHash),
            "timeout_ms": .int(h.limits.timeoutMillis), "memory_limit_bytes": .int(Int64(h.limits.memoryBytes)),
            "max_instructions": .int(h.limits.instructions), "max_attempts": .int(Int64(h.maxAttempts)),
            "retry_delay_ms": .int(h.retryDelayMillis),
        ]
        o["description"] = h.description.map(JSONValue.string) ?? .null
        o["stack"] = h.stack.map(JSONValue.string) ?? .null
        JSONValue.stamp(&o, "created_at", h.createdAt)
        JSONValue.stamp(&o, "updated_at", h.updatedAt)
        JSONValue.stamp(&o, "last_run", h.lastRun)
        o["permissions"] = h.permissions?.json ?? .null
        o["filter"] = h.filter?.json ?? .null
        o["nodes"] = .array(h.nodeTags.map(JSONValue.string))
        o["controls"] = h.controls.json
        if let s = stats {
            o["executions"] = .int(Int64(s.executions))
            o["successes"] = .int(Int64(s.successes))
            o["success_rate"] = s.successRate.map(JSONValue.double) ?? .null
            o["p50_ms"] = s.p50Millis.map(JSONValue.int) ?? .null
            o["p95_ms"] = s.p95Millis.map(JSONValue.int) ?? .null
        }
        return .object(o)
    }
}
