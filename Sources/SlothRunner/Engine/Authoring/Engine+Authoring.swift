extension Engine {
    /// Stores a replay of `original` (see `EventReplay`) for this engine, or another node, to run.
    package func replay(_ original: Event, hooks: [String], by: String) async throws(SlothError) -> Event {
        if !isRunning { throw .runtime("the engine is shutting down and accepts no new events") }
        let registered: [Hook]
        do { registered = try await driver.listHooks(HookFilter()) } catch { throw .storage("could not read the hooks: \(error)") }
        let event = try EventReplay.make(of: original, hooks: hooks, registered: registered, by: by, now: nowMillis())
        do { try await driver.insertEvents([event]) } catch { throw .storage("the replay was not stored: \(error)") }
        notePendingStoredHere(1)
        wakeClaimer()
        return event
    }

    /// `events explain` as JSON, for the API.
    package func explain(_ event: Event) async throws -> JSONValue {
        try await EventExplainer.report(for: event, store: driver).json
    }
}
