import ArgumentParser
import Foundation
import SlothRunner

struct EventsReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run an event's hooks again — all that take it, or the ones named — as a new event marked as a replay.",
        discussion: """
            A replay is a new event with the original's type, data, stack and timestamp, run by
            the hooks named (or every enabled hook that takes the event), even those that already
            succeeded; it records who asked and when, and the original keeps its record. A running
            `sloth-runner serve` (any node) runs it. Events its hooks dispatch are new events.

            With --type/--status/--stack/--since/--until instead of an id, every matching event is
            replayed (oldest first, at most --limit): the count is shown and confirmed on a
            terminal; scripts pass --yes.

            Examples:
              sloth-runner events replay 0193a1b2
              sloth-runner events replay 0193a1b2 --hook notify_slack
              sloth-runner events replay --type 'task.*' --status failed --since 24h --hook notify_slack --yes
              sloth-runner events replay --type deploy.started --since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z --limit 50
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Event id or a unique prefix of it (or select events with --type/--since/...).") var id: String?
    @Option(name: .customLong("hook"), help: "Replay through this hook only (repeatable).") var hooks: [String] = []
    @Option(help: "Events of this type or pattern (task.*).") var type: String?
    @Option(help: "Events with this status: pending, processing, completed, failed.") var status: String?
    @Option(help: "Events of this stack.") var stack: String?
    @Option(help: "Events created since: a duration ago (24h) or a time (RFC 3339).") var since: String?
    @Option(help: "Events created before: a duration ago or a time.") var until: String?
    @Option(help: "Replay at most this many events (the newest that match, run oldest first).") var limit: Int?
    @Flag(help: "Replay without asking (for scripts).") var yes = false

    func run() async throws {
        try await runReporting {
            let selecting = type != nil || status != nil || stack != nil || since != nil || until != nil || limit != nil
            if id != nil && selecting { throw SlothError.invalidInput("give an event id, or select events with --type/--status/--stack/--since/--until/--limit, not both") }
            guard id != nil || selecting else {
                throw SlothError.invalidInput("give an event id, or select events with --type/--since/... (see `sloth-runner events replay --help`)")
            }
            if selecting && since == nil {
                throw SlothError.invalidInput("--since is required when selecting events (e.g. --since 24h): a replay of everything stored is rarely meant")
            }
            let store = try await global.openStore()
            defer { store.closeNow() }
            let registered = try await store.listHooks(HookFilter())
            for name in hooks where !registered.contains(where: { $0.name == name }) {
                throw SlothError.notFound("no hook named '\(name)'\(NameSuggestion.hint(for: name, among: registered.map(\.name))) (see `sloth-runner hook list`)")
            }
            let now = nowMillis()
            guard let selection = selecting ? try EventSelection.make(type: type, status: status, stack: stack, since: since, until: until, limit: limit, now: now) : nil else {
                let original = try await store.resolveEvent(id!)
                let replay = try EventReplay.make(of: original, hooks: hooks, registered: registered, by: cliActor, now: now)
                try await store.insertEvents([replay])
                if global.json { printJSON(replay.json) } else {
                    print("Event \(original.id) replayed as \(replay.id) through \(replay.replay!.hooks.joined(separator: ", ")); `sloth-runner serve` runs it (follow with `sloth-runner events show \(replay.id.prefix(13))`).")
                }
                return
            }
            let originals = try await selection.events(from: store)
            var replays: [Event] = []
            var skipped: [(Event, String)] = []
            for original in originals {
                do throws(SlothError) { replays.append(try EventReplay.make(of: original, hooks: hooks, registered: registered, by: cliActor, now: now)) } catch {
                    skipped.append((original, error.description))
                }
            }
            if replays.isEmpty {
                let why = skipped.first.map { ": \($0.1)" } ?? ""
                throw SlothError.notFound("no event to replay (\(selection.summary)): \(originals.count) matched\(why)")
            }
            if !yes {
                let question = "Replay \(replays.count) event\(replays.count == 1 ? "" : "s") (\(selection.summary))\(skipped.isEmpty ? "" : ", skipping \(skipped.count) no hook named takes")?"
                guard confirmOnTerminal(question) else {
                    throw SlothError.invalidInput("\(replays.count) event\(replays.count == 1 ? "" : "s") would be replayed (\(selection.summary)); nothing done — run again with --yes to replay them")
                }
            }
            for chunk in stride(from: 0, to: replays.count, by: 500) {
                try await store.insertEvents(Array(replays[chunk..<min(replays.count, chunk + 500)]))
            }
            if global.json {
                printJSON(.object([
                    "replayed": .int(Int64(replays.count)), "skipped": .int(Int64(skipped.count)),
                    "replays": .array(replays.map { .object(["id": .string($0.id), "of": .string($0.replay!.of), "hooks": .array($0.replay!.hooks.map(JSONValue.string))]) }),
                ]))
            } else {
                print("Replayed \(replays.count) event\(replays.count == 1 ? "" : "s")\(skipped.isEmpty ? "" : "; skipped \(skipped.count) (no hook named takes them)"). `sloth-runner serve` runs them.")
            }
        }
    }
}

struct EventsExplain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Say, for every registered hook, whether it ran for an event and why (or why not).",
        discussion: """
            Reasons: ran (attempts and outcome), pending, type (its patterns vs the event's type),
            stack, filter (which path, expected vs actual), disabled, registered_after,
            changed_after, not_in_replay, waiting_for_node.

            Examples:
              sloth-runner events explain 0193a1b2
              sloth-runner events explain 0193a1b2 -o json | jq '.hooks[] | select(.ran | not)'
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Event id or a unique prefix of it.") var id: String

    func run() async throws {
        try await global.withStore { store in
            let event = try await store.resolveEvent(id)
            let report = try await EventExplainer.report(for: event, store: store)
            if global.json {
                printJSON(report.json)
                return
            }
            print("Event \(event.id) — \(event.type)\(event.stack.map { " (stack \($0))" } ?? ""), \(event.status.rawValue)")
            if let r = event.replay { print("A replay of \(r.of) by \(r.by) at \(Format.timestamp(r.at)) for \(r.hooks.joined(separator: ", ")).") }
            if report.verdicts.isEmpty {
                print("No hook is registered.")
            } else {
                var t = Table(["Hook", "Ran", "Reason", "Why"])
                for v in report.verdicts { t.add([v.hook, v.ran ? "yes" : "no", v.reason.rawValue, Terminal.line(v.detail)]) }
                print(t.render(headers: !global.noHeaders))
            }
            if !report.replays.isEmpty {
                print("\nReplays of this event:")
                for r in report.replays { print("  \(r.id)  \(r.status.rawValue)  by \(r.replay?.by ?? "-") at \(Format.timestamp(r.replay?.at))") }
            }
        }
    }
}
