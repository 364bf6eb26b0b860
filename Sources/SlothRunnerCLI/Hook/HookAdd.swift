import ArgumentParser
import Foundation
import SlothRunner

/// Flags shared by `hook add` and `hook update` that override a script's metadata.
struct HookOverrideOptions: ParsableArguments {
    @Option(help: "Hook name (overrides `name` in the script).")
    var name: String?
    @Option(help: "Event type or pattern to listen to, e.g. task.failed, task.*, or a comma-separated list.")
    var eventType: String?
    @Option(help: "Only run for events of this stack.")
    var stack: String?
    @Option(help: "What the hook does.")
    var description: String?
    @Option(help: "Attempts per event before the hook is dead-lettered (default 3).")
    var maxAttempts: Int?
    @Option(help: "Base delay of the exponential retry backoff, e.g. 1s, 500ms.")
    var retryDelay: String?
    @Option(help: "Wall-clock limit per run, e.g. 30s, 2m.")
    var timeout: String?

    func overrides(enabled: Bool?) throws(SlothError) -> HookOverrides {
        var o = HookOverrides()
        o.name = name
        o.eventTypes = eventType.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        o.stack = stack
        o.description = description
        o.enabled = enabled
        o.maxAttempts = maxAttempts
        if let retryDelay { o.retryDelaySeconds = try DurationText.seconds(retryDelay, for: "--retry-delay", in: HookLimits.durationRange) }
        if let timeout { o.timeoutSeconds = try DurationText.seconds(timeout, for: "--timeout", in: HookLimits.durationRange) }
        return o
    }
}

struct HookAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Validate a hook script and register it (its source is stored; later edits need `hook update`).",
        discussion: """
            Examples:
              sloth-runner hook add examples/hooks/notify_on_failure.lua
              sloth-runner hook add monitor.lua --stack production --event-type 'agent.*'
              sloth-runner hook add legacy.lua --name legacy_handler --event-type task.failed --disabled
              generate-hook | sloth-runner hook add - --name generated
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Path of the Lua hook file, or - to read the source from stdin.") var file: String
    @OptionGroup var options: HookOverrideOptions
    @Flag(help: "Register the hook disabled.") var disabled = false

    func run() async throws {
        try await runReporting {
            let runtime = LuaRuntime(threads: 1)
            defer { runtime.shutdown() }
            let overrides = try options.overrides(enabled: disabled ? false : nil)
            let loaded: HookLoader.Loaded
            if file == "-" {
                let data = try readBounded("-", limit: HookLoader.maxSourceBytes, what: "the hook source")
                guard let source = String(validating: Array(data), as: UTF8.self) else { throw SlothError.invalidInput("the hook source on stdin is not UTF-8 text") }
                loaded = try await HookLoader.load(source: source, filePath: "<stdin>", overrides: overrides, runtime: runtime)
            } else {
                loaded = try await HookLoader.load(path: file, overrides: overrides, runtime: runtime)
            }
            let store = try await global.openStore()
            defer { store.closeNow() }
            try await store.addHook(loaded.hook)
            for w in loaded.warnings { warn(w) }
            let h = loaded.hook
            if global.json {
                printJSON(HookView.json(h, stats: nil))
            } else {
                print("Hook '\(h.name)' registered (\(h.eventTypeText)\(h.stack.map { ", stack \($0)" } ?? "")\(h.enabled ? "" : ", disabled")).")
            }
        }
    }
}

struct HookUpdate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Reload a registered hook from its file (or another file), keeping its history.",
        discussion: """
            Examples:
              sloth-runner hook update notify_on_failure
              sloth-runner hook update notify_on_failure notify_v2.lua
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Name of the registered hook.") var name: String
    @Argument(help: "File to load (default: the file it was registered from).") var file: String?
    @OptionGroup var options: HookOverrideOptions

    func run() async throws {
        try await global.withStore { store in
            guard let existing = try await store.hook(named: name) else {
                throw SlothError.notFound("no hook named '\(name)' (see `sloth-runner hook list`)")
            }
            var overrides = try options.overrides(enabled: existing.enabled)
            if overrides.name != nil && overrides.name != name { throw SlothError.invalidInput("a hook cannot be renamed by update; remove it and add it again") }
            overrides.name = name
            let runtime = LuaRuntime(threads: 1)
            defer { runtime.shutdown() }
            let loaded = try await HookLoader.load(path: file ?? existing.filePath, overrides: overrides, runtime: runtime, existing: existing)
            try await store.replaceHook(loaded.hook)
            for w in loaded.warnings { warn(w) }
            if global.json {
                printJSON(HookView.json(loaded.hook, stats: nil))
            } else if loaded.hook.sourceHash == existing.sourceHash {
                print("Hook '\(name)' updated (source unchanged).")
            } else {
                print("Hook '\(name)' updated: source \(existing.sourceHash.prefix(12)) → \(loaded.hook.sourceHash.prefix(12)).")
            }
        }
    }
}
