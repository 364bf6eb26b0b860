import Foundation
import Logging
import Synchronization

/// What the engine says about an event's processing: its outcome at debug; each failed hook at
/// warning (with when it runs again) or, when it has used up its attempts, at error.
enum EngineLog {
    /// Called for every event: returns before building anything unless there is a line to write
    /// (a failed hook at warning, or any outcome at debug).
    static func outcome(_ outcome: EventOutcome, of event: Event, to logger: Logger) {
        let level = logger.logLevel
        let debug = level <= .debug
        guard debug || (level <= .warning && outcome.executions.contains(where: { !$0.success })) else { return }
        var base: Logger.Metadata = ["event_id": .string(event.id), "type": .string(event.type)]
        if let stack = event.stack { base["stack"] = .string(stack) }
        for execution in outcome.executions where !execution.success {
            var m = base
            m["hook"] = .string(execution.hookName)
            m["attempt"] = .stringConvertible(execution.attempt)
            m["error"] = .string(execution.error ?? "failed")
            let dead = outcome.attemptUpdates.first { $0.hookID == execution.hookID }?.dead ?? false
            if dead {
                logger.error("hook \(execution.hookName) failed on its last attempt; the event is dead-lettered for it", metadata: m)
            } else {
                m["next_attempt_at"] = .string(RFC3339.string(millis: outcome.nextRunAt))
                logger.warning("hook \(execution.hookName) failed; it runs again at \(RFC3339.string(millis: outcome.nextRunAt))", metadata: m)
            }
        }
        guard debug else { return }
        var m = base
        m["status"] = .string(outcome.status.rawValue)
        m["attempt"] = .stringConvertible(outcome.claimAttempt)
        m["hooks"] = .array(outcome.executions.map { .string($0.hookName) })
        m["duration_ms"] = .stringConvertible(outcome.executions.reduce(Int64(0)) { $0 + $1.durationMillis })
        if let error = outcome.error { m["error"] = .string(error) }
        logger.debug("event \(event.id) \(outcome.status.rawValue)", metadata: m)
    }
}

/// Logs a failure that may repeat on every tick (a claim against a broken store) once, then at
/// most every 30 seconds while it lasts, with how often it happened in between.
final class ThrottledError: Sendable {
    private let what: String
    private let state = Mutex<(lastLogged: Double, suppressed: Int)>((-.infinity, 0))

    init(what: String) { self.what = what }

    /// Logs (and hands to `alsoTell`) an error at most every 30 s, counting the ones between.
    func report(_ error: any Error, to logger: Logger, alsoTell: (@Sendable (String) -> Void)? = nil) {
        let now = monotonicSeconds()
        let suppressed = state.withLock { s -> Int? in
            guard now - s.lastLogged >= 30 else {
                s.suppressed += 1
                return nil
            }
            defer { s = (now, 0) }
            return s.suppressed
        }
        guard let suppressed else { return }
        var m: Logger.Metadata = ["error": .string("\(error)")]
        if suppressed > 0 { m["repeated"] = .stringConvertible(suppressed) }
        logger.error("\(what) failed: \(error)", metadata: m)
        alsoTell?("\(what) failed: \(error)")
    }
}
