/// One run of one hook for one event: the audit record.
public struct HookExecution: Sendable, Equatable {
    /// The record's id in the store.
    public var id: Int64
    /// The event the hook ran for.
    public var eventID: String
    /// The hook that ran (its id and its name at the time).
    public var hookID: String
    public var hookName: String
    /// Whether the hook succeeded (returned true without raising).
    public var success: Bool
    /// What the hook printed or logged, bounded and with secrets masked.
    public var output: String
    /// The failure: the hook's message, the Lua error with its line, or the limit it hit.
    public var error: String?
    /// How long the run took.
    public var durationMillis: Int64
    /// When the run started, in Unix milliseconds.
    public var executedAt: Millis
    /// Which attempt of this hook for this event (1 for the first).
    public var attempt: Int
    /// Instructions and memory the run used.
    public var usage: ResourceUsage
    /// What the hook returned with success (`return true, "sent"`).
    public var message: String?

    package init(
        id: Int64 = 0, eventID: String, hookID: String, hookName: String, success: Bool,
        output: String, error: String?, durationMillis: Int64, executedAt: Millis, attempt: Int,
        usage: ResourceUsage, message: String? = nil
    ) {
        self.id = id
        self.eventID = eventID
        self.hookID = hookID
        self.hookName = hookName
        self.success = success
        self.output = output
        self.error = error
        self.durationMillis = durationMillis
        self.executedAt = executedAt
        self.attempt = attempt
        self.usage = usage
        self.message = message
    }

    /// The execution as JSON, in the shape `-o json` prints (docs/cli-json.md).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .int(id), "event_id": .string(eventID), "hook_id": .string(hookID),
            "hook_name": .string(hookName), "success": .bool(success), "output": .string(output),
            "error": error.map(JSONValue.string) ?? .null, "duration_ms": .int(durationMillis),
            "attempt": .int(Int64(attempt)),
            "instructions": .int(usage.instructions), "peak_memory_bytes": .int(Int64(usage.peakMemoryBytes)),
            "message": message.map(JSONValue.string) ?? .null,
        ]
        JSONValue.stamp(&o, "executed_at", executedAt)
        return .object(o)
    }
}

/// What a hook run consumed, measured by the runtime.
public struct ResourceUsage: Sendable, Equatable {
    /// Lua VM instructions executed.
    public var instructions: Int64
    /// The largest the run's Lua heap grew.
    public var peakMemoryBytes: Int

    package init(instructions: Int64 = 0, peakMemoryBytes: Int = 0) {
        self.instructions = instructions
        self.peakMemoryBytes = peakMemoryBytes
    }
}

/// An event-hook pair that used up its attempts.
public struct DeadLetter: Sendable, Equatable {
    public var eventID: String
    public var hookID: String
    public var hookName: String
    /// How many attempts it made.
    public var attempts: Int
    /// The error of its last attempt.
    public var lastError: String?
    /// When it gave up, in Unix milliseconds.
    public var deadAt: Millis

    package init(eventID: String, hookID: String, hookName: String, attempts: Int, lastError: String?, deadAt: Millis) {
        self.eventID = eventID
        self.hookID = hookID
        self.hookName = hookName
        self.attempts = attempts
        self.lastError = lastError
        self.deadAt = deadAt
    }

    /// As `events show -o json` prints it (docs/cli-json.md).
    package var json: JSONValue {
        .object([
            "hook_id": .string(hookID), "hook_name": .string(hookName), "attempts": .int(Int64(attempts)),
            "last_error": lastError.map(JSONValue.string) ?? .null,
        ])
    }
}

extension Event {
    /// The event with its executions and dead letters (`events show -o json`, `GET /events/{id}`).
    package func json(executions: [HookExecution], deadLetters: [DeadLetter], skips: [HookSkip] = [], effects: [EffectRecord] = []) -> JSONValue {
        guard case .object(var o) = json else { return json }
        o["effects"] = .array(effects.map(\.json))
        o["executions"] = .array(executions.map(\.json))
        o["dead_letters"] = .array(deadLetters.map(\.json))
        o["skips"] = .array(skips.map(\.json))
        return .object(o)
    }
}
