/// State shared by the hooks of a stack (`state.*` in hooks, `sloth-runner state`).
public protocol SharedStateStore: Sendable {
    /// The value under `key`, unless absent or expired at `now`.
    func stateGet(stack: String, key: String, now: Millis) async throws -> JSONValue?
    /// Sets `key`, expiring at `expiresAt` if given.
    func stateSet(stack: String, key: String, value: JSONValue, expiresAt: Millis?, now: Millis) async throws
    /// Deletes `key`; true if it was there.
    func stateDelete(stack: String, key: String) async throws -> Bool
    /// Live entries whose key starts with `prefix` (of one stack, or of all).
    func stateEntries(stack: String?, prefix: String, now: Millis) async throws -> [StateEntry]
}

/// The state's atomic operations, serialised per key across processes and nodes.
package protocol AtomicStateStore: SharedStateStore {
    /// Adds `by` to an integer value (absent counts as 0) atomically; returns the new value.
    func stateIncrement(stack: String, key: String, by: Int64, now: Millis) async throws -> Int64
    /// Sets `value` only if the current value equals `expected` (nil: absent); atomically.
    func stateCompareAndSet(stack: String, key: String, expected: JSONValue?, value: JSONValue, expiresAt: Millis?, now: Millis) async throws -> Bool
    /// Deletes entries expired at `now`; returns how many.
    func pruneExpiredState(now: Millis) async throws -> Int
}
