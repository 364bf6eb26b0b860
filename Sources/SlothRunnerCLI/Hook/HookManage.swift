import ArgumentParser
import Foundation
import SlothRunner

struct HookList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List registered hooks.",
        discussion: """
            Examples:
              sloth-runner hook list
              sloth-runner hook list --stack production --enabled
              sloth-runner hook list --event-type task.failed -o json
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only hooks of this stack.") var stack: String?
    @Option(help: "Only hooks that listen to this event type.") var eventType: String?
    @Flag(help: "Only enabled hooks.") var enabled = false
    @Flag(help: "Only disabled hooks.") var disabled = false

    func run() async throws {
        try await runReporting {
            if enabled && disabled { throw SlothError.invalidInput("give --enabled or --disabled, not both") }
            let store = try await global.openStore()
            defer { store.closeNow() }
            let hooks = try await store.listHooks(HookFilter(stack: stack, eventType: eventType, enabled: enabled ? true : (disabled ? false : nil)))
            if global.json {
                printJSON(.array(hooks.map { HookView.json($0, stats: nil) }))
                return
            }
            if hooks.isEmpty {
                print("No hooks registered\(stack.map { " in stack \($0)" } ?? ""). Add one with `sloth-runner hook add FILE`.")
                return
            }
            var t = Table(["Name", "Event Type", "Stack", "Enabled", "Runs", "Last Run"])
            for h in hooks {
                t.add([h.name, h.eventTypeText, h.stack ?? "-", h.enabled ? "yes" : "no", "\(h.runCount)", Format.timestamp(h.lastRun)])
            }
            print(t.render(headers: !global.noHeaders))
        }
    }
}

struct HookGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Show a hook: metadata, source, run statistics.",
        discussion: """
            Statistics (success rate, p50, p95) cover the hook's most recent 1,000 runs.

            Examples:
              sloth-runner hook get notify_on_failure
              sloth-runner hook get notify_on_failure --source > notify_on_failure.lua
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Hook name.") var name: String
    @Flag(help: "Print only the stored Lua source, as registered (to edit it and `hook update`).") var source = false

    func run() async throws {
        try await global.withStore { store in
            guard let h = try await store.hook(named: name) else {
                throw SlothError.notFound("no hook named '\(name)' (see `sloth-runner hook list`)")
            }
            if source {
                if global.json { printJSON(.object(["name": .string(h.name), "source": .string(h.source)])) } else {
                    print(h.source, terminator: h.source.hasSuffix("\n") ? "" : "\n")
                }
                return
            }
            let stats = try await store.hookStats(hookID: h.id)
            let controlState = try await store.controlStates(hookID: h.id, now: nowMillis())
            if global.json {
                guard case .object(var o) = HookView.json(h, stats: stats) else { return }
                o["control_state"] = .array(controlState.map {
                    .object(["control": .string($0.control), "group": .string($0.group.replacingOccurrences(of: "\u{1F}", with: ",")), "value": $0.value])
                })
                printJSON(.object(o))
                return
            }
            let rate = stats.successRate.map { String(format: "%.1f%% (%d of %d)", $0 * 100, stats.successes, stats.executions) } ?? "no runs yet"
            print("""
                Name:         \(h.name)
                Description:  \(Terminal.line(h.description ?? "-"))
                Event types:  \(h.eventTypeText)
                Stack:        \(h.stack ?? "- (all stacks)")
                Data filter:  \(h.filter.map { HookView.filterText($0) } ?? "- (every event)")
                Nodes:        \(h.nodeTags.isEmpty ? "- (any node)" : "tagged " + h.nodeTags.joined(separator: ", "))
                Enabled:      \(h.enabled ? "yes" : "no")
                Source:       \(Terminal.line(h.filePath))
                Source hash:  sha256:\(h.sourceHash)
                Limits:       timeout \(Format.duration(h.limits.timeoutMillis)), memory \(Format.bytes(h.limits.memoryBytes)), \(h.limits.instructions) instructions
                Retries:      \(h.maxAttempts) attempts, backoff from \(Format.duration(h.retryDelayMillis))
                Permissions:  \(Terminal.line(HookView.permissionsText(h.permissions)))
                Created:      \(Format.timestamp(h.createdAt))
                Updated:      \(Format.timestamp(h.updatedAt))
                Run count:    \(h.runCount)
                Last run:     \(Format.timestamp(h.lastRun))
                Success rate: \(rate)\(stats.executions >= HookStats.window ? " over the last \(HookStats.window) runs" : "")
                Duration:     p50 \(Format.duration(stats.p50Millis)), p95 \(Format.duration(stats.p95Millis))
                """)
            let controls = h.controls.lines
            print("Storm control: \(controls.isEmpty ? "- (every matching event runs)" : controls.joined(separator: "\n               "))")
            if let circuit = controlState.first(where: { $0.control == "circuit" }), let state = circuit.value["state"]?.stringValue {
                let until = circuit.value["open_until"]?.intValue.map { " until \(Format.timestamp($0))" } ?? ""
                print("Circuit:       \(state.replacingOccurrences(of: "_", with: "-"))\(state == "closed" ? "" : until)")
            }
            let groups = controlState.filter { $0.control != "circuit" }
            if !groups.isEmpty { print("Tracked:       \(groups.count) group\(groups.count == 1 ? "" : "s") (\(Set(groups.map(\.control)).sorted().joined(separator: ", ")))") }
        }
    }
}

struct HookEnable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enable", abstract: "Enable a hook.", discussion: "Example:\n  sloth-runner hook enable notify_on_failure")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Hook name.") var name: String
    func run() async throws {
        try await global.withStore { store in
            try await HookView.setEnabled(true, name: name, store: store, json: global.json)
        }
    }
}

struct HookDisable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "disable", abstract: "Disable a hook (it stays registered).", discussion: "Example:\n  sloth-runner hook disable notify_on_failure")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Hook name.") var name: String
    func run() async throws {
        try await global.withStore { store in
            try await HookView.setEnabled(false, name: name, store: store, json: global.json)
        }
    }
}

struct HookRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a hook and its execution history.", discussion: "Example:\n  sloth-runner hook remove notify_on_failure",
        aliases: ["delete"])
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Hook name.") var name: String
    func run() async throws {
        try await global.withStore { store in
            try await store.removeHook(name: name)
            if !global.json { print("Hook '\(name)' removed.") } else { printJSON(.object(["name": .string(name), "removed": .bool(true)])) }
        }
    }
}

struct HookHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "Show a hook's recent executions.",
        discussion: """
            Examples:
              sloth-runner hook history notify_on_failure --limit 20
              sloth-runner hook history notify_on_failure --failed -o json
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Hook name.") var name: String
    @Option(help: "How many executions to show.") var limit = 20
    @Flag(help: "Only failed executions.") var failed = false

    func run() async throws {
        try await runReporting {
            guard limit > 0 else { throw SlothError.invalidInput("--limit must be positive") }
            let store = try await global.openStore()
            defer { store.closeNow() }
            guard let h = try await store.hook(named: name) else {
                throw SlothError.notFound("no hook named '\(name)' (see `sloth-runner hook list`)")
            }
            // One more than asked for tells whether the list is cut.
            var runs = try await store.hookHistory(hookID: h.id, limit: limit + 1, failedOnly: failed)
            let cut = runs.count > limit
            if cut { runs.removeLast() }
            let note = cut ? "showing the newest \(limit) runs; there are more; use --limit to see more" : nil
            if global.json {
                printJSON(.array(runs.map(\.json)))
                if let note { ListNote.warn(note) }
                return
            }
            if runs.isEmpty {
                print("Hook '\(name)' has no \(failed ? "failed " : "")executions yet.")
                return
            }
            print(HookView.executionsTable(runs, showEvent: true, headers: !global.noHeaders))
            if let note, !global.noHeaders { print(note) }
        }
    }
}
