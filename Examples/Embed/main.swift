// Embedding sloth-runner: an engine on a SQLite file, a hook registered from a string, one
// event dispatched and its outcome awaited and printed.
//
//   swift run sloth-runner-embed-example [DATABASE]
import Foundation
import SlothRunner

let path = CommandLine.arguments.dropFirst().first ?? NSTemporaryDirectory() + "embed-\(getpid()).db"
let store = try SQLiteEventStore(path: path)
let runtime = LuaRuntime(threads: 1)

let source = """
    return {
      name = "greet", event_type = "custom.hello",
      execute = function(event)
        return true, "hello, " .. event.data.who
      end,
    }
    """
let loaded = try await HookLoader.load(source: source, filePath: "greet.lua", overrides: HookOverrides(), runtime: runtime)
if try await store.hook(named: loaded.hook.name) == nil { try await store.addHook(loaded.hook) }

// The engine tells us when an event's outcome is recorded.
let recorded = AsyncStream<String>.makeStream()
var configuration = EngineConfiguration()
configuration.observer = { observation in
    if case .eventRecorded(let id, _) = observation { recorded.continuation.yield(id) }
}
let engine = Engine(store: store, runtime: runtime, configuration: configuration)
try await engine.start()

let event = try await engine.dispatch(NewEvent(type: "custom.hello", data: .object(["who": .string("embedder")])))
for await id in recorded.stream where id == event.id { break }

// What was recorded, through the store interface every store offers (`any EventStore`).
let inspect: any EventStore = engine.store
let stored = try await inspect.resolveEvent(event.id)
let runs = try await inspect.executions(eventID: event.id)
print("event \(stored.id) \(stored.status.rawValue)")
for run in runs { print("  \(run.hookName): \(run.success ? "ok" : "failed") — \(run.message ?? run.error ?? "")") }

_ = await engine.drain(grace: 5)
runtime.shutdown()
await store.close()
exit(stored.status == .completed ? 0 : 1)
