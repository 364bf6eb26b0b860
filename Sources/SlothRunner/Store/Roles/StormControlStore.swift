/// Storm control's state: `StormGate` holds the rules; the store keeps per-hook-and-group rows
/// changed atomically, and the skips it settled.
package protocol StormControlStore: Sendable {
    /// The hooks storm control settled for an event without a run (throttled, debounced).
    func skips(eventID: String) async throws -> [HookSkip]
    /// A control's state for one group of a hook, unless absent or expired at `now`.
    func controlState(hookID: String, control: String, group: String, now: Millis) async throws -> ControlState?
    /// Compare-and-set: when the row's version is `expected` (nil: the row is absent or expired
    /// at `now`), sets `value` (nil: deletes the row) with a new version; false when another
    /// writer came first. A hook's rows go with the hook.
    func controlStateSwap(hookID: String, control: String, group: String, expected: Int64?, value: JSONValue?, expiresAt: Millis?, now: Millis) async throws -> Bool
    /// Every live row of a hook's controls (`hook get`, `events explain`).
    func controlStates(hookID: String, now: Millis) async throws -> [ControlState]
    /// Deletes rows expired before `now`; returns how many.
    func pruneControlStates(now: Millis) async throws -> Int
}

/// The effect journal of hooks with `effects = "once"`.
package protocol EffectJournalStore: Sendable {
    /// What hooks with `effects = "once"` recorded for an event (of one hook, or of all), by position.
    func effectJournal(eventID: String, hookID: String?) async throws -> [EffectRecord]
    /// Keeps (or replaces, at its position) what a completed call returned.
    func recordEffect(_ record: EffectRecord) async throws
    /// Counts a reuse of the record at `position`.
    func noteEffectReused(eventID: String, hookID: String, position: Int) async throws
}
