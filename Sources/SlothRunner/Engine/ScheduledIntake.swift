extension Engine {
    /// Stores the events a schedule fires for its slots in `(from, through]` and moves the
    /// schedule's mark to `through`, in one transaction (see `EventStoreDriver.scheduleFire`):
    /// false, and nothing stored, when the mark was no longer `from` (the schedule changed, or
    /// another scheduler fired first). Validated as `dispatch` validates.
    package func fireSchedule(name: String, from: Millis, through: Millis, events: [NewEvent]) async throws(SlothError) -> Bool {
        let now = nowMillis()
        var stored: [Event] = []
        // Ids in slot order (ids made in one millisecond are random among themselves), so the
        // events list and claims follow the slots.
        let ids = events.map { _ in EventID.make(millis: now) }.sorted()
        for (new, id) in zip(events, ids) {
            let encoded = try new.validated(maxDataBytes: configuration.maxDataBytes)
            stored.append(Engine.pendingEvent(from: new, now: now, id: id, encoded: encoded))
        }
        let fired: Bool
        do { fired = try await driver.scheduleFire(name: name, from: from, through: through, events: stored) } catch {
            throw .storage("schedule \(name): the slot was not recorded: \(error)")
        }
        if fired, !stored.isEmpty {
            notePendingStoredHere(stored.count)
            if isRunning { wakeClaimer() }
        }
        return fired
    }
}
