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
    @Option(help: "Storm control: the first event per window runs, the rest are skipped: WINDOW[:PATH,...], e.g. 5m:data.agent.name.")
    var throttle: String?
    @Option(help: "Storm control: one run per burst, with its last event, once quiet: QUIET[:PATH,...], e.g. 30s:data.path.")
    var debounce: String?
    @Option(help: "Storm control: at most N runs per period, the excess delayed: N/PERIOD[:PATH,...], e.g. 10/m.")
    var rateLimit: String?
    @Option(help: "Storm control: at most N runs at once: N[:PATH,...], e.g. 1:data.service.")
    var concurrency: String?
    @Option(help: "Storm control: FAILURES/WITHIN/OPEN_FOR, e.g. 5/1m/5m: that many failures within WITHIN defer runs for OPEN_FOR.")
    var circuitBreaker: String?
    @Option(help: "once: a retry returns the recorded result of exec.run and non-GET http calls that completed; always (default).")
    var effects: String?

    /// `VALUE[:PATH,PATH]` as a hook table's `{ key = VALUE, group_by = {PATH, ...} }`.
    static func grouped(_ text: String, key: String, number: Bool = false) -> JSONValue {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let value: JSONValue = number ? (Int64(parts[0]).map(JSONValue.int) ?? .string(parts[0])) : .string(parts.first ?? "")
        var o: [String: JSONValue] = [key: value]
        if parts.count == 2 { o["group_by"] = .array(parts[1].split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }) }
        return .object(o)
    }

    /// The storm-control flags as hook-table fields (validated with the table's rules).
    func controlFields() throws(SlothError) -> [String: JSONValue] {
        var c: [String: JSONValue] = [:]
        if let throttle { c["throttle"] = Self.grouped(throttle, key: "once_within") }
        if let debounce { c["debounce"] = Self.grouped(debounce, key: "quiet") }
        if let rateLimit { c["rate_limit"] = Self.grouped(rateLimit, key: "rate") }
        if let concurrency { c["concurrency"] = Self.grouped(concurrency, key: "limit", number: true) }
        if let circuitBreaker {
            let parts = circuitBreaker.split(separator: "/").map(String.init)
            guard parts.count == 3, let failures = Int64(parts[0]) else {
                throw .invalidInput("--circuit-breaker must be FAILURES/WITHIN/OPEN_FOR, e.g. 5/1m/5m, not '\(circuitBreaker)'")
            }
            c["circuit_breaker"] = .object(["failures": .int(failures), "within": .string(parts[1]), "open_for": .string(parts[2])])
        }
        if let effects { c["effects"] = .string(effects) }
        return c
    }

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
        o.controls = try controlFields()
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
              sloth-runner hook add page.lua --throttle 5m:data.agent.name --circuit-breaker 5/1m/5m
              sloth-runner hook add notify.lua --rate-limit 10/m --concurrency 1 --effects once
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
