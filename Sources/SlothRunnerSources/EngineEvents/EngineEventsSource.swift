import Foundation
import SlothRunner

/// The engine's own events: `system.startup` {version, start_time, node} once `serve` is
/// ready, and `system.shutdown` {reason, uptime} when it is told to stop — committed before the
/// engine drains, so before the process exits. (`system.error` is emitted by `SourcesService`
/// for whichever component fails.)
public struct EngineEventsSource: EventSourcePlugin {
    public let name = "engine"
    public let kind = "engine"
    let version: String
    /// Why the daemon stops (`SIGTERM`, `SIGINT`), asked at the moment it does.
    let reason: @Sendable () -> String

    public init(version: String, reason: @escaping @Sendable () -> String) {
        self.version = version
        self.reason = reason
    }

    public func run(_ context: SourceContext) async throws {
        let started = context.clock.now()
        let startedMonotonic = context.clock.monotonicNow()
        try await context.emit("system.startup", [
            "version": .string(version), "start_time": .string(RFC3339.string(millis: started)),
            "node": .string(context.engine.configuration.nodeID), "pid": .int(Int64(getpid())),
        ])
        // Wait for the shutdown (this task's cancellation), then say so in a task of its own:
        // the cancelled one might not be let near the store.
        while !Task.isCancelled {
            do { try await context.clock.sleep(forMillis: 3_600_000) } catch { break }
        }
        let uptime = context.clock.monotonicNow() - startedMonotonic
        let why = reason()
        _ = try await Task {
            try await context.emit("system.shutdown", [
                "reason": .string(why), "uptime": .string(DurationText.format(millis: uptime)), "uptime_ms": .int(uptime),
                "node": .string(context.engine.configuration.nodeID),
            ])
        }.value
    }
}
