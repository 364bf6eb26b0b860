import Foundation
import Logging
import Synchronization
import Testing
@testable import SlothRunner
@testable import SlothRunnerSources

/// A source that fails its first `failures` runs, then emits one event and waits.
final class FlakySource: EventSourcePlugin {
    let name = "flaky"
    let kind = "test"
    let runs = Atomic<Int>(0)
    let failures: Int
    init(failures: Int) { self.failures = failures }
    func run(_ context: SourceContext) async throws {
        let n = runs.add(1, ordering: .relaxed).newValue
        if n <= failures { throw SlothError.runtime("broken on run \(n)") }
        try await context.emit("custom.flaky_up", ["run": .int(Int64(n))])
        while true { try await context.clock.sleep(until: context.clock.now() + 3_600_000) }
    }
}

/// A source that emits once and waits.
struct SteadySource: EventSourcePlugin {
    let name = "steady"
    let kind = "test"
    func run(_ context: SourceContext) async throws {
        try await context.emit("custom.steady", [:])
        while true { try await context.clock.sleep(until: context.clock.now() + 3_600_000) }
    }
}

@Suite struct SourcesServiceTests {
    @Test func aFailingSourceIsReportedRestartedAndStopsNothingElse() async throws {
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        try await h.engine.start()
        let flaky = FlakySource(failures: 2)
        let service = SourcesService(engine: h.engine, plugins: [flaky, SteadySource()], clock: h.clock, book: h.book, logger: Logger(label: "test"))
        let task = Task { try await service.run() }
        let store = h.store
        func count(_ type: String) async throws -> Int { try await store.listEvents(EventFilter(type: type, limit: 100)).count }
        // The steady source works while the flaky one fails: system.error names it, and it is
        // marked failing with the reason.
        try await eventually {
            let steady = try await count("custom.steady")
            let errors = try await count("system.error")
            return steady == 1 && errors == 1
        }
        let error = try await store.listEvents(EventFilter(type: "system.error", limit: 1))[0]
        #expect(error.data["component"] == .string("source:flaky"))
        #expect(error.data["error"]?.stringValue?.contains("broken on run 1") == true)
        #expect(error.data["severity"] == .string("error"))
        #expect(h.book.status("flaky")?.state == .failing)
        // Restarted after a 1 s backoff, fails again; then 2 s, and it comes up.
        try await eventually { h.clock.sleeping >= 3 }
        h.clock.advance(to: h.clock.now() + 1000)
        try await eventually { try await count("system.error") == 2 }
        try await eventually { h.clock.sleeping >= 3 }
        h.clock.advance(to: h.clock.now() + 2000)
        try await eventually { try await count("custom.flaky_up") == 1 }
        #expect(h.book.status("flaky")?.state == .running)
        // The source counts an event once its dispatch has returned, a moment after the store has it.
        try await eventually { h.book.status("flaky")?.emitted == 1 }
        #expect(h.book.status("steady")?.emitted == 1)
        #expect(h.engine.isRunning)
        task.cancel()
        _ = try? await task.value
        _ = await h.engine.drain(grace: 5)
    }

    @Test func engineComponentErrorsBecomeSystemErrorsUnlessTurnedOff() async throws {
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        let on = SourcesService(engine: h.engine, plugins: [], clock: h.clock, logger: Logger(label: "test"))
        let off = SourcesService(engine: h.engine, plugins: [], clock: h.clock, logger: Logger(label: "test"), reportsErrors: false)
        await off.reportError(component: "store", error: "claiming events failed: disk I/O error")
        #expect(try await h.store.listEvents(EventFilter(type: "system.error", limit: 10)).isEmpty)
        await on.reportError(component: "store", error: "claiming events failed: disk I/O error")
        let errors = try await h.store.listEvents(EventFilter(type: "system.error", limit: 10))
        #expect(errors.count == 1)
        #expect(errors.first?.data["component"] == .string("store") && errors.first?.data["severity"] == .string("error"))
    }

    @Test func aRepeatedEngineErrorIsToldOnceEveryThirtySeconds() {
        let told = Mutex<[String]>([])
        let throttle = ThrottledError(what: "claiming events")
        for _ in 0..<5 { throttle.report(SlothError.storage("busy"), to: Logger(label: "test")) { m in told.withLock { $0.append(m) } } }
        #expect(told.withLock { $0 } == ["claiming events failed: busy"])
    }
}
