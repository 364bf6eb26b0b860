import ArgumentParser
import Foundation
import SlothRunner
import Synchronization

struct HookTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run a hook without storing anything: once against an event, over its test cases, or over stored history (what-if).",
        discussion: """
            The hook is a file or the name of a registered hook. Events it dispatches are shown, not stored.

            --cases CASES.yaml runs the hook's unit tests: each case gives an event, mocks (http,
            exec, state, secrets, env, files, clock) and expectations; every call is answered by a
            mock, and the command exits 1 when a case fails (docs/hook-authoring.md).

            --history 'type=task.failed since=24h limit=500' (or --since with --type, --status,
            --stack, --until, --limit) runs the hook over stored events in dry-run: exec.run, http
            other than GET/HEAD, file writes, state writes and event.dispatch are recorded, not
            performed; GET/HEAD and file reads are mocked too unless --allow-reads. Each event's
            new outcome is shown beside the one recorded for the registered hook of that name,
            then a summary; exit 1 when any event would newly fail (or a run hit a limit).

            Examples:
              sloth-runner hook test notify.lua --type task.failed --data '{"task":{"task_name":"deploy"}}'
              sloth-runner hook test notify_on_failure --event event.json
              sloth-runner hook test notify.lua --cases notify.cases.yaml
              sloth-runner hook test notify.lua --history 'type=task.failed since=24h limit=500'
              sloth-runner hook test notify.lua --since 7d --type 'task.*' --allow-reads -o json
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Hook file, or name of a registered hook.") var hook: String
    @Option(help: "JSON file holding the event: {\"type\": ..., \"data\": {...}, \"stack\": ...}.") var event: String?
    @Option(help: "Event type.") var type: String?
    @Option(help: "Event data as a JSON object.") var data: String?
    @Option(help: "Event stack.") var stack: String?
    @Flag(help: "Deny capabilities the hook does not declare, as `serve --strict-permissions` does.") var strictPermissions = false
    @Option(help: "Run the test cases in this YAML (or JSON) file.") var cases: String?
    @Option(help: "What-if over stored events: 'type=PATTERN status=S stack=S since=24h until=T limit=N'.") var history: String?
    @Option(help: "What-if over events created since (a duration ago, or a time); with --type as the type or pattern.") var since: String?
    @Option(help: "What-if: events created before (a duration ago, or a time).") var until: String?
    @Option(help: "What-if: only events with this status.") var status: String?
    @Option(help: "What-if: at most this many events (the newest that match; default 500).") var limit: Int?
    @Flag(help: "What-if: perform GET/HEAD requests and file reads (without it they are mocked too).") var allowReads = false

    var whatIf: Bool { history != nil || since != nil || until != nil || status != nil || limit != nil }

    func run() async throws {
        try await runReporting {
            if cases != nil || whatIf {
                try await runAuthoringMode()
                return
            }
            if allowReads { throw SlothError.invalidInput("--allow-reads is for a what-if run (--history or --since)") }
            let runtime = LuaRuntime(threads: 1)
            defer { runtime.shutdown() }
            let hookDef = try await loadHook(runtime: runtime)
            let new = try testEvent(defaultType: hookDef.eventTypes.first { !$0.contains("*") })
            let secretStore = try await global.openStore()
            defer { secretStore.closeNow() }
            let outcome = try await HookDryRun.run(
                hookDef, with: new, runtime: runtime, strictPermissions: strictPermissions,
                secrets: SecretVault(driver: secretStore, databasePath: global.databasePath))
            if let mismatch = outcome.mismatch { warn(mismatch) }
            let r = outcome.result, ev = outcome.event
            if global.json {
                printJSON(outcome.json)
            } else {
                print("Hook:     \(hookDef.name)")
                print("Event:    \(ev.type)\(ev.stack.map { " (stack \($0))" } ?? "")")
                print("Result:   \(Format.status(r.success))\(r.message.map { " — \(Terminal.block($0))" } ?? "")")
                print("Usage:    \(Format.duration(r.durationMillis)), \(r.usage.instructions) instructions, peak memory \(Format.bytes(r.usage.peakMemoryBytes))")
                for e in outcome.dispatched { print("Dispatch: \(e.type) \(e.data.serialized()) (not stored)") }
                if !r.output.isEmpty {
                    print("Output:")
                    print(Terminal.block(r.output), terminator: r.output.hasSuffix("\n") ? "" : "\n")
                }
            }
            if !r.success { throw ExitCode(1) }
        }
    }

    /// The hook named on the command line: a file (its current text), or a registered hook.
    func loadHook(runtime: LuaRuntime) async throws -> Hook {
        if FileManager.default.fileExists(atPath: hook) {
            return try await HookLoader.load(path: hook, overrides: HookOverrides(), runtime: runtime).hook
        }
        if hook.hasSuffix(".lua") { throw SlothError.notFound("hook file \(hook) does not exist") }
        let store = try await global.openStore()
        defer { store.closeNow() }
        guard let h = try await store.hook(named: hook) else {
            throw SlothError.notFound("'\(hook)' is neither a file nor a registered hook (see `sloth-runner hook list`)")
        }
        return h
    }

    func testEvent(defaultType: String?) throws(SlothError) -> NewEvent {
        if let event {
            if type != nil || data != nil { throw .invalidInput("give either --event FILE or --type/--data, not both") }
            guard let d = FileManager.default.contents(atPath: event) else { throw .notFound("event file \(event) does not exist") }
            let v: JSONValue
            do { v = try JSONValue.parse(bytes: Array(d)) } catch { throw .invalidInput("\(event): \(error)") }
            guard let t = v["type"]?.stringValue else { throw .invalidInput("\(event): the event needs a \"type\" string") }
            let eventData = v["data"] ?? .object([:])
            return NewEvent(type: t, data: eventData, stack: stack ?? v["stack"]?.stringValue)
        }
        guard let t = type ?? defaultType else {
            throw .invalidInput("give the event with --event FILE.json or --type TYPE [--data JSON]")
        }
        return NewEvent(type: t, data: try readEventData(inline: data, file: nil), stack: stack)
    }
}
