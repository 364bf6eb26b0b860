/// One side effect of a hook with `effects = "once"` that completed, as the journal keeps it:
/// a later attempt of the same hook for the same event that makes the same call (same
/// arguments) at the same position gets `result` back instead of running it again.
public struct EffectRecord: Sendable, Equatable {
    public var eventID: String
    public var hookID: String
    /// Its place among the run's effect calls (1 for the first).
    public var position: Int
    /// `exec` or `http`.
    public var kind: String
    /// SHA-256 of the call's arguments: another call at the same position runs for real.
    public var fingerprint: String
    /// What it was (`exec systemctl restart nginx`, `http POST https://…`).
    public var summary: String
    /// What the call returned (masked of secrets the run read).
    public var result: JSONValue
    /// The attempt that made it, and when.
    public var attempt: Int
    public var recordedAt: Millis
    /// How many later attempts got it back from the journal.
    public var reused: Int

    package init(eventID: String, hookID: String, position: Int, kind: String, fingerprint: String, summary: String, result: JSONValue, attempt: Int, recordedAt: Millis, reused: Int = 0) {
        self.eventID = eventID
        self.hookID = hookID
        self.position = position
        self.kind = kind
        self.fingerprint = fingerprint
        self.summary = summary
        self.result = result
        self.attempt = attempt
        self.recordedAt = recordedAt
        self.reused = reused
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "hook_id": .string(hookID), "position": .int(Int64(position)), "kind": .string(kind), "summary": .string(summary),
            "attempt": .int(Int64(attempt)), "reused": .int(Int64(reused)),
        ]
        JSONValue.stamp(&o, "recorded_at", recordedAt)
        return .object(o)
    }
}
