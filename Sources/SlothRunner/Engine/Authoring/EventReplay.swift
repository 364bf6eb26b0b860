/// A replay (`events replay`, `POST /api/v1/events/{id}/replay`, the web UI's Replay button):
/// a new event with the type, data, stack and timestamp of an earlier one, run by the hooks
/// named (or every enabled hook that takes it), marked with who asked and when. Its runs are
/// recorded as any event's; the original and its record stay as they were. The replay goes
/// through the engine as any event does (leases, retries, dead letters, node tags); the
/// events its hooks dispatch are new events (a replay re-does the work).
package enum EventReplay {
    /// The replay of `original` by `hooks` (names; empty: every enabled hook that takes it).
    /// A hook named that does not exist, is disabled, or does not take the event is refused,
    /// as is a replay that no hook would run.
    package static func make(of original: Event, hooks requested: [String], registered: [Hook], by: String, now: Millis) throws(SlothError) -> Event {
        var names: [String] = []
        if requested.isEmpty {
            names = registered.filter { $0.enabled && EventExplainer.mismatch($0, original) == nil }.map(\.name).sorted()
            guard !names.isEmpty else {
                throw .invalidInput("no enabled hook takes event \(original.id) (\(original.type)); nothing to replay (see `sloth-runner events explain \(original.id.prefix(13))`)")
            }
        } else {
            for name in requested where !names.contains(name) {
                guard let hook = registered.first(where: { $0.name == name }) else {
                    throw .notFound("no hook named '\(name)' (see `sloth-runner hook list`)")
                }
                guard hook.enabled else { throw .invalidInput("hook '\(name)' is disabled; enable it to replay events through it") }
                if let why = EventExplainer.mismatch(hook, original) {
                    throw .invalidInput("hook '\(name)' does not take event \(original.id.prefix(13)): \(why.detail)")
                }
                names.append(name)
            }
        }
        guard !by.isEmpty else { throw .invalidInput("a replay must say who asked for it") }
        // Depth as the original's: a replay cannot stretch a chain of hook dispatches.
        return Event(
            id: EventID.make(millis: now), type: original.type, stack: original.stack, timestamp: original.timestamp, data: original.data,
            createdAt: now, chainDepth: original.chainDepth, replay: ReplayMark(of: original.id, hooks: names, by: by, at: now))
    }
}
