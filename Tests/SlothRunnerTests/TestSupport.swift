import Foundation
import Synchronization
@testable import SlothRunner

/// A temporary directory per test, removed when the value goes away.
final class TempDir: Sendable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "sloth-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String, _ contents: String) -> String {
        let p = path + "/" + name
        _ = FileManager.default.createFile(atPath: p, contents: Data(contents.utf8))
        return p
    }
}

/// An engine on a fresh SQLite database with helpers to add hooks and await outcomes.
final class EngineHarness: Sendable {
    let dir = TempDir()
    let store: SQLiteEventStore
    let engine: Engine
    let recorded = RecordedEvents()

    let runtime: LuaRuntime

    init(
        runtime: LuaRuntime = LuaTestSupport.runtime, busyTimeoutMillis: Int32 = 10_000,
        configure: (inout EngineConfiguration) -> Void = { _ in }
    ) throws {
        self.runtime = runtime
        store = try SQLiteEventStore(path: dir.path + "/sloth.db", busyTimeoutMillis: busyTimeoutMillis)
        var config = EngineConfiguration()
        config.workers = 16
        config.pollMillis = 5
        let recorded = self.recorded
        config.observer = { obs in
            switch obs {
            case .eventRecorded(let id, let status): recorded.add(id, status)
            case .outcomeWriteFailed(let n, let error): recorded.writeFailed(n, error)
            default: break
            }
        }
        configure(&config)
        engine = Engine(store: store, runtime: runtime, configuration: config)
    }

    func addHook(_ source: String, file: String = "hook.lua", overrides: HookOverrides = HookOverrides()) async throws -> Hook {
        let path = dir.file(file, source)
        let loaded = try await HookLoader.load(path: path, overrides: overrides, runtime: runtime)
        try await store.addHook(loaded.hook)
        return loaded.hook
    }

    /// Waits until the event reaches a final status (completed or failed), as recorded by the engine.
    func waitFinal(_ id: String, timeout: Double = 20) async throws -> Event {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let e = try await store.resolveEvent(id)
            if e.status == .completed || e.status == .failed { return e }
            await recorded.waitForChange(timeoutMillis: 50)
        }
        return try await store.resolveEvent(id)
    }
}

/// Statuses recorded by an engine, with a way to wait for the next one (no sleeps as sync).
final class RecordedEvents: Sendable {
    private let wake = Wakeup()
    private let failures = Mutex<(count: Int, last: String)>((0, ""))
    func add(_ id: String, _ status: EventStatus) { wake.signal() }
    func waitForChange(timeoutMillis: Int64) async { await wake.wait(millis: timeoutMillis) }

    func writeFailed(_ n: Int, _ error: String) {
        failures.withLock { $0 = ($0.count + n, error) }
        wake.signal()
    }

    /// Outcomes whose write failed so far (each try counted), and the last error.
    var writeFailures: (count: Int, last: String) { failures.withLock { $0 } }
}
