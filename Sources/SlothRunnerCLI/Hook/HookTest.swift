import ArgumentParser
import Foundation
import SlothRunner
import Synchronization

struct HookTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run a hook once against an event without storing anything; exit 0 only on success.",
        discussion: """
            The hook is a file or the name of a registered hook. Events it dispatches are shown, not stored.

            Examples:
              sloth-runner hook test notify.lua --type task.failed --data '{"task":{"task_name":"deploy"}}'
              sloth-runner hook test notify_on_failure --event event.json
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Hook file, or name of a registered hook.") var hook: String
    @Option(help: "JSON file holding the event: {\"type\": ..., \"data\": {...}, \"stack\": ...}.") var event: String?
    @Option(help: "Event type.") var type: String?
    @Option(help: "Event data as a JSON object.") var data: String?
    @Option(help: "Event stack.") var stack: String?
    @Flag(help: "Deny capabilities the hook does not declare, as `serve --strict-permissions` does.") var strictPermissions = false

    func run() async throws {
        try await runReporting {
            let runtime = LuaRuntime(threads: 1)
            defer { runtime.shutdown() }
            let hookDef: Hook
            if FileManager.default.fileExists(atPath: hook) {
                hookDef = try await HookLoader.load(path: hook, overrides: HookOverrides(), runtime: runtime).hook
            } else if hook.hasSuffix(".lua") {
                throw SlothError.notFound("hook file \(hook) does not exist")
            } else {
                let store = try await global.openStore()
                defer { store.closeNow() }
                guard let h = try await store.hook(named: hook) else {
                    throw SlothError.notFound("'\(hook)' is neither a file nor a registered hook (see `sloth-runner hook list`)")
                }
                hookDef = h
            }
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
