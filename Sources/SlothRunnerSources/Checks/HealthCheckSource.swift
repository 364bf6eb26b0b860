import Foundation
import SlothRunner

/// Runs the store's health checks, each on its own interval in a task of its own (no thread
/// each: probes are asynchronous). Changes made by the CLI are picked up within `pollMillis`;
/// a check whose definition did not change keeps its state (its failure count, its downtime).
public struct HealthCheckSource: EventSourcePlugin {
    public let name = "checks"
    public let kind = "check"
    /// One node probes: every node probing would report each failure once per node.
    public var runsOnOneNode: Bool { true }
    let pollMillis: Int64

    public init(pollMillis: Int64 = 1000) { self.pollMillis = pollMillis }

    public func run(_ context: SourceContext) async throws {
        let checks = context.checks
        var version: Int64 = -1
        var running: [String: (check: HealthCheck, task: Task<Void, Never>)] = [:]
        defer { for r in running.values { r.task.cancel() } }
        while true {
            try Task.checkCancellation()
            let current = try await checks.checksVersion()
            if current != version {
                version = current
                let wanted = Dictionary(try await checks.checkList().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                for (name, r) in running where wanted[name] != r.check {
                    r.task.cancel()
                    running[name] = nil
                }
                for (name, check) in wanted where running[name] == nil {
                    running[name] = (check, Task { await Self.loop(check, context) })
                }
                context.running()
            }
            try await context.clock.sleep(forMillis: pollMillis)
        }
    }

    static func loop(_ check: HealthCheck, _ context: SourceContext) async {
        var tracker = CheckTracker(failures: check.failures, latencyThresholdMillis: check.latencyThresholdMillis)
        // The interval is kept on the monotonic clock (see SourceClock); what is reported, on the wall clock.
        var next = context.clock.monotonicNow()
        while !Task.isCancelled {
            let result = await CheckProbe.run(check)
            if Task.isCancelled { return }
            for emit in tracker.observe(result, at: context.clock.now(), emitPassed: check.emitPassed) {
                do { try await emitEvent(emit, check, result, context) } catch {
                    context.logger.warning("check \(check.name): the event was not stored: \(error)")
                }
            }
            next += check.intervalMillis
            let now = context.clock.monotonicNow()
            if next <= now { next = now + check.intervalMillis }
            do { try await context.clock.sleep(untilMonotonic: next) } catch { return }
        }
    }

    static func emitEvent(_ emit: CheckTracker.Emit, _ check: HealthCheck, _ result: ProbeResult, _ context: SourceContext) async throws {
        var data: [String: JSONValue] = [
            "service": .string(check.service), "check_name": .string(check.name), "kind": .string(check.kind.rawValue),
            "target": .string(check.target),
        ]
        switch emit {
        case .failed(let consecutive, let error):
            data["error"] = .string(error)
            data["consecutive_failures"] = .int(Int64(consecutive))
            try await context.emit("health.check_failed", data)
        case .recovered(let downtime):
            data["downtime_duration"] = .string(DurationText.format(millis: downtime))
            data["downtime_ms"] = .int(downtime)
            try await context.emit("health.recovered", data)
        case .passed(let latency):
            data["response_time"] = .int(latency)
            try await context.emit("health.check_passed", data)
        case .latencyHigh(let latency):
            data["remote_host"] = .string(URL(string: check.target)?.host ?? check.target)
            data["latency"] = .int(latency)
            data["threshold"] = .int(check.latencyThresholdMillis ?? 0)
            try await context.emit("network.latency_high", data)
        }
    }
}
