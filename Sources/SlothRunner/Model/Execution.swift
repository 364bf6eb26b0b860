/// One run of one hook for one event: the audit record.
public struct HookExecution: Sendable, Equatable {
    public var id: Int64
    public var eventID: String
    public var hookID: String
    public var hookName: String
    public var success: Bool
    public var output: String
    public var error: String?
    public var durationMillis: Int64
    public var executedAt: Millis
    public var attempt: Int
    public var usage: ResourceUsage
    /// What the hook returned with success (`return true, "sent"`).
    public var message: String?

    public init(
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
    public var instructions: Int64
    public var peakMemoryBytes: Int

    public init(instructions: Int64 = 0, peakMemoryBytes: Int = 0) {
        self.instructions = instructions
        self.peakMemoryBytes = peakMemoryBytes
    }
}

/// An event-hook pair that used up its attempts.
public struct DeadLetter: Sendable, Equatable {
    public var eventID: String
    public var hookID: String
    public var hookName: String
    public var attempts: Int
    public var lastError: String?
    public var deadAt: Millis
}
