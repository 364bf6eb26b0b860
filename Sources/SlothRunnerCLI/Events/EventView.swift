import Foundation
import SlothRunner

enum EventView {
    /// Prints an event with its executions (`events show`, `dispatch --wait`); returns the event.
    @discardableResult
    static func print(_ id: String, store: any EventStoreDriver, json: Bool) async throws -> Event {
        let e = try await store.resolveEvent(id)
        let runs = try await store.executions(eventID: e.id)
        let dead = try await store.deadLetters(eventID: e.id)
        let replays = try await store.listEvents(EventFilter(replayOf: e.id, limit: 20))
        let skips = try await store.skips(eventID: e.id)
        let effects = try await store.effectJournal(eventID: e.id, hookID: nil)
        if json {
            guard case .object(var o) = e.json(executions: runs, deadLetters: dead, skips: skips, effects: effects) else { return e }
            o["replays"] = .array(replays.map { .string($0.id) })
            printJSON(.object(o))
        } else {
            let names = Dictionary(runs.map { ($0.hookID, $0.hookName) }, uniquingKeysWith: { a, _ in a })
            Swift.print(EventView.show(e, executions: runs, deadLetters: dead, replays: replays, skips: skips, effects: effects, hookNames: names), terminator: "")
        }
        return e
    }

    static func show(
        _ e: Event, executions: [HookExecution], deadLetters: [DeadLetter], replays: [Event] = [], skips: [HookSkip] = [],
        effects: [EffectRecord] = [], hookNames: [String: String] = [:]
    ) -> String {
        var out = """
            Event: \(e.id)
            Type: \(e.type)
            Stack: \(e.stack ?? "-")
            Status: \(e.status.rawValue)
            Created: \(Format.timestamp(e.createdAt))
            Processed: \(Format.timestamp(e.processedAt))
            Attempts: \(e.attempts)
            """
        if let p = e.parentID { out += "\nParent: \(p) (chain depth \(e.chainDepth))" }
        if let r = e.replay { out += "\nReplay of: \(r.of) (by \(r.by) at \(Format.timestamp(r.at)), hooks: \(r.hooks.joined(separator: ", ")))" }
        if !replays.isEmpty { out += "\nReplayed as: " + replays.map { "\($0.id) (\($0.status.rawValue))" }.joined(separator: ", ") }
        if e.status == .pending && e.attempts > 0 { out += "\nNext attempt: \(Format.timestamp(e.nextRunAt))" }
        if let err = e.error { out += "\nError: \(Terminal.block(err))" }
        out += "\n\nHook Executions\n"
        if executions.isEmpty {
            out += e.status == .completed ? (skips.isEmpty ? "(no hook matched this event)\n" : "(none: storm control settled every hook)\n") : "(none yet)\n"
        } else {
            var t = Table(["Hook Name", "Status", "Attempt", "Duration", "Executed At"])
            for x in executions {
                t.add([x.hookName, Format.status(x.success), "\(x.attempt)", Format.duration(x.durationMillis), Format.timestamp(x.executedAt)])
            }
            out += t.render() + "\n"
        }
        let messages = executions.filter { $0.success && $0.message != nil }
        if !messages.isEmpty {
            out += "\nResults\n"
            for x in messages { out += "  \(x.hookName): \(Terminal.line(HookView.firstLine(x.message!, max: 200)))\n" }
        }
        for x in executions where !x.success {
            out += "\nHook: \(x.hookName) (attempt \(x.attempt))\nError:\n\(Terminal.block(x.error ?? "failed"))\n"
            if !x.output.isEmpty { out += "Output:\n\(Terminal.block(x.output))\(x.output.hasSuffix("\n") ? "" : "\n")" }
        }
        if !effects.isEmpty {
            out += "\nEffect journal (effects = \"once\": a retry reuses these instead of repeating them):\n"
            for r in effects {
                let reused = r.reused == 0 ? "" : ", reused \(r.reused)×"
                out += "  \(hookNames[r.hookID] ?? r.hookID) #\(r.position) \(Terminal.line(r.summary)) — attempt \(r.attempt), \(Format.timestamp(r.recordedAt))\(reused)\n"
            }
        }
        if !skips.isEmpty {
            out += "\nSettled by storm control (not run):\n"
            for k in skips { out += "  \(k.hookName): \(Terminal.line(k.detail))\n" }
        }
        if !deadLetters.isEmpty {
            out += "\nDead-lettered hooks (re-arm with `sloth-runner events retry \(e.id.prefix(13))`):\n"
            for d in deadLetters { out += "  \(d.hookName): \(d.attempts) attempts, last error: \(Terminal.line(HookView.firstLine(d.lastError ?? "-", max: 100)))\n" }
        }
        return out
    }
}
