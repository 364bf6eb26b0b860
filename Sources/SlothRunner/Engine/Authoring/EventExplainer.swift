/// Why each registered hook ran for an event or did not (`events explain`, `GET
/// /api/v1/events/{id}/explain`, the event page of the web UI). Pure: it reads the event, the
/// hooks as they are now, what was recorded of the event, and the live nodes' tags.
package enum EventExplainer {
    /// One hook's answer.
    package struct Verdict: Sendable, Equatable {
        /// Why, as a word scripts match on.
        package enum Reason: String, Sendable, CaseIterable {
            /// It ran (see `attempts`, `succeeded`, `deadLettered`).
            case ran
            /// It will run: the event is pending or being processed.
            case pending
            /// Its event types do not take the event's type.
            case type
            /// It is bound to another stack.
            case stack
            /// Its data filter does not accept the event's data.
            case filter
            /// It is disabled.
            case disabled
            /// It was registered after the event was processed.
            case registeredAfter = "registered_after"
            /// It was changed (updated, enabled) after the event was processed: it did not
            /// match, or was disabled, then.
            case changedAfter = "changed_after"
            /// The event is a replay that names other hooks.
            case notInReplay = "not_in_replay"
            /// It needs a node with tags none of the nodes that processed the event has.
            case waitingForNode = "waiting_for_node"
            /// Storm control settled it: another event of its group ran in the window.
            case throttled
            /// Storm control settled it: a later event of the burst runs instead.
            case debounced
            /// Storm control holds it back: the group has not been quiet long enough yet.
            case debounceWaiting = "debounce_waiting"
            /// Storm control holds it back: over its rate limit, it runs at the next slot.
            case rateLimited = "rate_limited"
            /// Storm control holds it back: as many runs as its concurrency allows are going.
            case concurrency
            /// Storm control holds it back: its circuit breaker is open.
            case circuitOpen = "circuit_open"
        }

        package var hook: String
        package var reason: Reason
        /// The sentence a person reads.
        package var detail: String
        package var attempts = 0
        package var succeeded: Bool?
        package var deadLettered = false
        /// What the reason is about (`pattern`/`type`, `path`/`expected`/`actual`, ...).
        package var facts: [String: JSONValue] = [:]

        package var ran: Bool { reason == .ran }

        package var json: JSONValue {
            var o: [String: JSONValue] = [
                "hook": .string(hook), "ran": .bool(ran), "reason": .string(reason.rawValue), "detail": .string(detail),
                "attempts": .int(Int64(attempts)), "succeeded": succeeded.map(JSONValue.bool) ?? .null,
                "dead_lettered": .bool(deadLettered),
            ]
            for (k, v) in facts { o[k] = v }
            return .object(o)
        }
    }

    /// Every registered hook's verdict, by hook name; hooks that ran first.
    package static func explain(
        _ event: Event, hooks: [Hook], executions: [HookExecution], deadLetters: [DeadLetter], liveNodeTags: [[String]], skips: [HookSkip] = [],
        effects: [EffectRecord] = []
    ) -> [Verdict] {
        var verdicts = hooks.map { hook in
            if let skip = skips.first(where: { $0.hookID == hook.id }) {
                return Verdict(
                    hook: hook.name, reason: Verdict.Reason(rawValue: skip.reason) ?? .throttled, detail: skip.detail,
                    facts: ["related_event_id": skip.relatedEventID.map(JSONValue.string) ?? .null])
            }
            var v = verdict(for: hook, event: event, executions: executions.filter { $0.hookID == hook.id }, deadLetters: deadLetters, liveNodeTags: liveNodeTags)
            let journal = effects.filter { $0.hookID == hook.id }
            if !journal.isEmpty {
                v.facts["effects"] = .array(journal.map(\.json))
                let reused = journal.reduce(0) { $0 + $1.reused }
                v.detail += " (effect journal: \(journal.count) completed call\(journal.count == 1 ? "" : "s"), \(reused) reuse\(reused == 1 ? "" : "s"))"
            }
            return v
        }
        verdicts.sort { ($0.ran ? 0 : 1, $0.hook) < ($1.ran ? 0 : 1, $1.hook) }
        return verdicts
    }

    /// Why `hook` does not take `event` by its definition (types, stack, data filter), or nil
    /// when it does. Also what `events replay --hook` and `hook test` say of a hook that does not.
    package static func mismatch(_ hook: Hook, _ event: Event) -> Verdict? {
        if !CompiledHook(hook).matches(type: event.type, stack: event.stack) {
            if let stack = hook.stack, stack != event.stack, hook.matches(type: event.type, stack: stack) {
                return Verdict(
                    hook: hook.name, reason: .stack,
                    detail: "it sees only stack \(stack); the event is \(event.stack.map { "in stack \($0)" } ?? "in no stack")",
                    facts: ["hook_stack": .string(stack), "event_stack": event.stack.map(JSONValue.string) ?? .null])
            }
            return Verdict(
                hook: hook.name, reason: .type,
                detail: "it listens to \(hook.eventTypeText); the event is \(event.type)",
                facts: ["patterns": .array(hook.eventTypes.map(JSONValue.string)), "event_type": .string(event.type)])
        }
        if let filter = hook.filter, let (condition, actual) = filter.firstUnmet(in: event.data) {
            let wanted = condition.accepted.count == 1 ? condition.accepted[0].serialized() : "one of " + condition.accepted.map { $0.serialized() }.joined(separator: ", ")
            let found = actual.map { "is \($0.serialized())" } ?? "is missing"
            return Verdict(
                hook: hook.name, reason: .filter,
                detail: "its filter wants data.\(condition.path) to be \(wanted); in the event it \(found)",
                facts: ["path": .string(condition.path), "expected": .array(condition.accepted), "actual": actual ?? .null])
        }
        return nil
    }

    static func verdict(
        for hook: Hook, event: Event, executions runs: [HookExecution], deadLetters: [DeadLetter], liveNodeTags: [[String]]
    ) -> Verdict {
        if let last = runs.max(by: { ($0.attempt, $0.id) < ($1.attempt, $1.id) }) {
            return ran(hook, event: event, runs: runs, last: last, dead: deadLetters.first { $0.hookID == hook.id })
        }
        if let replay = event.replay, !replay.hooks.contains(hook.name) {
            return Verdict(
                hook: hook.name, reason: .notInReplay,
                detail: "the event is a replay of \(replay.of) for \(replay.hooks.joined(separator: ", ")) only",
                facts: ["replay_hooks": .array(replay.hooks.map(JSONValue.string))])
        }
        if let mismatch = mismatch(hook, event) { return mismatch }
        if !hook.enabled {
            return Verdict(hook: hook.name, reason: .disabled, detail: "it is disabled (enable it with `sloth-runner hook enable \(hook.name)`)")
        }
        let finished = event.status == .completed || event.status == .failed
        if finished, let processed = event.processedAt {
            if hook.createdAt > processed {
                return Verdict(
                    hook: hook.name, reason: .registeredAfter,
                    detail: "it was registered at \(RFC3339.string(millis: hook.createdAt)), after the event was processed (\(RFC3339.string(millis: processed))); replay the event to run it",
                    facts: ["registered_at": .string(RFC3339.string(millis: hook.createdAt))])
            }
            if hook.updatedAt > processed {
                return Verdict(
                    hook: hook.name, reason: .changedAfter,
                    detail: "it was changed at \(RFC3339.string(millis: hook.updatedAt)), after the event was processed (\(RFC3339.string(millis: processed))): it did not take the event then, or was disabled; replay the event to run it",
                    facts: ["updated_at": .string(RFC3339.string(millis: hook.updatedAt))])
            }
        }
        if !hook.nodeTags.isEmpty, !liveNodeTags.contains(where: { tags in hook.nodeTags.allSatisfy(tags.contains) }) {
            return Verdict(
                hook: hook.name, reason: .waitingForNode,
                detail: "it runs only on a node tagged \(hook.nodeTags.joined(separator: " and ")), and no live node is (start one with `serve --node-tag \(hook.nodeTags.joined(separator: ","))`)",
                facts: ["node_tags": .array(hook.nodeTags.map(JSONValue.string))])
        }
        if !finished, let (reason, detail) = deferral(of: hook.name, in: event.error), let r = Verdict.Reason(rawValue: reason) {
            return Verdict(hook: hook.name, reason: r, detail: detail, facts: ["next_run_at": .string(RFC3339.string(millis: event.nextRunAt))])
        }
        if !finished {
            let due = event.status == .pending ? ", next due \(RFC3339.string(millis: event.nextRunAt))" : ""
            return Verdict(hook: hook.name, reason: .pending, detail: "not yet: the event is \(event.status.rawValue)\(due)")
        }
        // Matches, enabled, unchanged since, yet no run: it was enabled later without another
        // change, or its run's record was removed.
        return Verdict(
            hook: hook.name, reason: .changedAfter,
            detail: "it takes the event now, but no run of it is recorded (it was removed and added again, or disabled then); replay the event to run it")
    }

    static func ran(_ hook: Hook, event: Event, runs: [HookExecution], last: HookExecution, dead: DeadLetter?) -> Verdict {
        let n = last.attempt
        let attempts = "\(n) attempt\(n == 1 ? "" : "s")"
        var detail: String
        if last.success {
            detail = "succeeded" + (n > 1 ? " on attempt \(n)" : "") + (last.message.map { ": \(Self.firstLine($0))" } ?? "")
        } else if let dead {
            detail = "failed \(attempts) and was dead-lettered: \(Self.firstLine(dead.lastError ?? last.error ?? "failed"))"
        } else if event.status == .pending {
            detail = "failed \(attempts) so far (\(Self.firstLine(last.error ?? "failed"))); next attempt due \(RFC3339.string(millis: event.nextRunAt))"
        } else {
            detail = "failed \(attempts): \(Self.firstLine(last.error ?? "failed"))"
        }
        if let replay = event.replay { detail += " (in the replay by \(replay.by))" }
        return Verdict(
            hook: hook.name, reason: .ran, detail: detail, attempts: n, succeeded: last.success, deadLettered: dead != nil,
            facts: ["last_run_at": .string(RFC3339.string(millis: last.executedAt))])
    }

    /// The storm-control deferral the event's error records for `hook` (see
    /// `OutcomePlanner.Deferral.note`): its reason and sentence.
    static func deferral(of hook: String, in error: String?) -> (String, String)? {
        guard let error else { return nil }
        let prefix = "hook \(hook) deferred ("
        for part in error.components(separatedBy: "; ") where part.hasPrefix(prefix) {
            let rest = part.dropFirst(prefix.count)
            guard let close = rest.range(of: "): ") else { continue }
            return (String(rest[..<close.lowerBound]), String(rest[close.upperBound...]))
        }
        return nil
    }

    static func firstLine(_ text: String) -> String {
        let line = text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? text
        return line.count > 200 ? String(line.prefix(199)) + "…" : line
    }
}

extension EventExplainer {
    /// An event's explanation as the CLI, the API and the web UI show it: the verdicts and the
    /// replays made of the event.
    package struct Report: Sendable {
        package var event: Event
        package var verdicts: [Verdict]
        /// Replays of this event, newest first (at most 20).
        package var replays: [Event]

        package var json: JSONValue {
            .object([
                "event": event.json, "hooks": .array(verdicts.map(\.json)),
                "ran": .int(Int64(verdicts.count(where: \.ran))), "replays": .array(replays.map(\.json)),
            ])
        }
    }

    /// Reads what explaining `event` needs from the store.
    package static func report(for event: Event, store: any EventStoreDriver) async throws -> Report {
        async let hooks = store.listHooks(HookFilter())
        async let runs = store.executions(eventID: event.id)
        async let dead = store.deadLetters(eventID: event.id)
        async let nodes = store.nodeList()
        async let replays = store.listEvents(EventFilter(replayOf: event.id, limit: 20))
        async let skips = store.skips(eventID: event.id)
        async let effects = store.effectJournal(eventID: event.id, hookID: nil)
        let live = try await nodes.filter { $0.state == .alive }.map(\.tags)
        let verdicts = explain(
            event, hooks: try await hooks, executions: try await runs, deadLetters: try await dead, liveNodeTags: live, skips: try await skips,
            effects: try await effects)
        return Report(event: event, verdicts: verdicts, replays: try await replays)
    }
}
