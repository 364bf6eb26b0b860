import Foundation

/// A what-if run (`hook test FILE --history 'type=task.failed since=24h'`): an edited hook,
/// not registered, run over stored events in a sandbox — its side effects are recorded, not
/// performed (no command runs, no request but allowed reads leaves, no file is written, no
/// state is stored, no event is dispatched) — and its outcome set beside the one recorded for
/// the registered hook of the same name.
package enum HookWhatIf {
    /// What happened to one event, then and now.
    package enum Then: String, Sendable { case ok, failed, none }
    package enum Now: String, Sendable { case ok, failed, notTaken = "not_taken" }
    package enum Change: String, Sendable, CaseIterable {
        case unchanged
        case newlyFailing = "newly_failing"
        case newlySucceeding = "newly_succeeding"
        /// The edited hook does not take the event (its types, stack or filter).
        case notTaken = "not_taken"
        /// The run was killed by a limit (timeout, memory, instructions).
        case errors
    }

    package struct Row: Sendable {
        package var event: Event
        package var then: Then
        package var thenMessage: String?
        package var now: Now
        package var nowMessage: String?
        package var effects: [HookSandbox.Effect]
        package var change: Change

        package var json: JSONValue {
            .object([
                "event_id": .string(event.id), "type": .string(event.type), "recorded": .string(then.rawValue),
                "recorded_message": thenMessage.map(JSONValue.string) ?? .null, "outcome": .string(now.rawValue),
                "message": nowMessage.map(JSONValue.string) ?? .null, "effects": .array(effects.map(\.json)),
                "change": .string(change.rawValue),
            ])
        }
    }

    package struct Report: Sendable {
        package var hook: String
        package var selection: EventSelection
        package var rows: [Row]
        package var mockedReads: Int

        package func count(_ change: Change) -> Int { rows.count { $0.change == change } }
        package var effects: Int { rows.reduce(0) { $0 + $1.effects.count } }

        package var json: JSONValue {
            var summary: [String: JSONValue] = ["events": .int(Int64(rows.count)), "effects_recorded": .int(Int64(effects)), "reads_mocked": .int(Int64(mockedReads))]
            for c in Change.allCases { summary[c.rawValue] = .int(Int64(count(c))) }
            return .object(["hook": .string(hook), "selection": .string(selection.summary), "events": .array(rows.map(\.json)), "summary": .object(summary)])
        }
    }

    /// Runs `hook` over the selected events, oldest first.
    package static func run(
        _ hook: Hook, over selection: EventSelection, store: any EventStoreDriver, runtime: LuaRuntime, allowReads: Bool,
        strictPermissions: Bool, secrets: (any SecretReading)?
    ) async throws -> Report {
        let events = try await selection.events(from: store)
        var rows: [Row] = []
        var reads = 0
        for event in events {
            let recorded = try await store.executions(eventID: event.id).filter { $0.hookName == hook.name }
                .max { ($0.attempt, $0.id) < ($1.attempt, $1.id) }
            let then: Then = recorded.map { $0.success ? .ok : .failed } ?? .none
            let thenMessage = recorded.flatMap { $0.success ? $0.message : ($0.error ?? "failed") }
            if let why = EventExplainer.mismatch(hook, event) {
                rows.append(Row(event: event, then: then, thenMessage: thenMessage, now: .notTaken, nowMessage: why.detail, effects: [], change: then == .none ? .unchanged : .notTaken))
                continue
            }
            let sandbox = HookSandbox(.whatIf(allowReads: allowReads))
            let state = OverlayState(base: StoreState(store: store, stack: hook.stack ?? event.stack ?? ""))
            let outcome = await HookDryRun.run(hook, on: event, runtime: runtime, strictPermissions: strictPermissions, secrets: secrets, state: state, sandbox: sandbox)
            reads += sandbox.mockedReads
            let r = outcome.result
            let now: Now = r.success ? .ok : .failed
            let change: Change
            if r.killed { change = .errors } else if (now == .ok) == (then == .ok) && then != .none { change = .unchanged } else if now == .failed {
                change = .newlyFailing
            } else {
                change = .newlySucceeding
            }
            rows.append(Row(event: event, then: then, thenMessage: thenMessage, now: now, nowMessage: r.message, effects: sandbox.effects, change: change))
        }
        return Report(hook: hook.name, selection: selection, rows: rows, mockedReads: reads)
    }
}
