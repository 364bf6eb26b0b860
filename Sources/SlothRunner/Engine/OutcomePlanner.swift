import Foundation

/// Decides an event's outcome from the hook runs of one claim and the progress of earlier ones.
/// Pure, so the retry and dead-letter rules are tested without a database or Lua.
enum OutcomePlanner {
    /// What planning needs of a hook: small, so handing it around costs two retains rather than
    /// a copy of the whole hook (source included).
    struct HookPolicy: Sendable {
        let id: String
        let name: String
        let maxAttempts: Int
        let retryDelayMillis: Int64

        init(_ hook: Hook) {
            id = hook.id
            name = hook.name
            maxAttempts = hook.maxAttempts
            retryDelayMillis = hook.retryDelayMillis
        }
    }

    struct Run {
        var hook: HookPolicy
        var attempt: Int
        var result: HookRunResult
        var executedAt: Millis
    }

    /// A hook storm control held back in this claim: the event comes back for it at `until`.
    struct Deferral: Sendable {
        var hook: String
        var until: Millis
        var reason: String
        var detail: String

        /// How the event's error names it (`events explain` reads it back).
        var note: String { "hook \(hook) deferred (\(reason)): \(detail)" }
    }

    static func plan(
        event: borrowing Event, owner: String, matching: [HookPolicy], progress: HookProgress, runs: [Run], now: Millis,
        jitter: () -> Double = { Double.random(in: 0.5...1.5) }, skips: [HookSkip] = [], deferred: [Deferral] = []
    ) -> EventOutcome {
        var executions: [HookExecution] = []
        var updates: [HookAttemptUpdate] = []
        var retryAt: Millis?
        var deadMessages: [String] = []
        for old in progress.dead {
            guard let hook = matching.first(where: { $0.id == old }) else { continue }
            deadMessages.append("hook \(hook.name) had used up its attempts")
        }
        for run in runs {
            let r = run.result
            executions.append(
                HookExecution(
                    eventID: event.id, hookID: run.hook.id, hookName: run.hook.name, success: r.success, output: r.output,
                    error: r.success ? nil : (r.message ?? "failed"), durationMillis: r.durationMillis, executedAt: run.executedAt,
                    attempt: run.attempt, usage: r.usage, message: r.success ? r.message : nil))
            guard !r.success else { continue }
            let dead = run.attempt >= run.hook.maxAttempts
            updates.append(HookAttemptUpdate(hookID: run.hook.id, hookName: run.hook.name, attempts: run.attempt, dead: dead, lastError: r.message))
            if dead {
                deadMessages.append("hook \(run.hook.name) failed after \(run.attempt) attempt\(run.attempt == 1 ? "" : "s"): \(r.message ?? "failed")")
            } else {
                let delay = backoff(base: run.hook.retryDelayMillis, attempt: run.attempt, jitter: jitter())
                retryAt = min(retryAt ?? Millis.max, now + delay)
            }
        }
        // Deferred hooks use no attempt: the event is simply due again when they may run.
        var notes = deadMessages
        for d in deferred {
            retryAt = min(retryAt ?? Millis.max, d.until)
            notes.append(d.note)
        }
        let status: EventStatus
        var error: String?
        if let retryAt {
            status = .pending
            error = notes.isEmpty ? nil : notes.joined(separator: "; ")
            return EventOutcome(
                eventID: event.id, leaseOwner: owner, claimAttempt: event.attempts, status: status, error: error,
                processedAt: nil, nextRunAt: retryAt, executions: executions, attemptUpdates: updates, skips: skips)
        }
        if deadMessages.isEmpty {
            status = .completed
        } else {
            status = .failed
            error = deadMessages.joined(separator: "; ")
        }
        return EventOutcome(
            eventID: event.id, leaseOwner: owner, claimAttempt: event.attempts, status: status, error: error,
            processedAt: now, nextRunAt: event.nextRunAt, executions: executions, attemptUpdates: updates, skips: skips)
    }

    /// The outcome of a claim that ran what this node may run while `elsewhere` (hooks needing
    /// node tags it lacks) still owe their run: the event goes back to pending, for a node with
    /// every tag they need, at once; what ran here is recorded (and not run again), and the
    /// event says what it waits for (`events show`).
    static func waiting(_ planned: EventOutcome, for elsewhere: [Hook], now: Millis) -> EventOutcome {
        var tags: [String] = []
        for hook in elsewhere { for t in hook.nodeTags where !tags.contains(t) { tags.append(t) } }
        let names = elsewhere.map(\.name).sorted().joined(separator: ", ")
        var error = "waiting for a node tagged \(tags.joined(separator: " and ")) (to run \(names))"
        if planned.status == .failed || planned.status == .pending, let e = planned.error { error += "; " + e }
        return EventOutcome(
            eventID: planned.eventID, leaseOwner: planned.leaseOwner, claimAttempt: planned.claimAttempt, status: .pending, error: error,
            processedAt: nil, nextRunAt: now, executions: planned.executions, attemptUpdates: planned.attemptUpdates, needsTags: tags,
            skips: planned.skips)
    }

    /// Exponential backoff with jitter, capped at one hour.
    static func backoff(base: Int64, attempt: Int, jitter: Double) -> Int64 {
        let exp = Double(base) * pow(2, Double(max(0, attempt - 1)))
        return Int64(min(3_600_000, exp * jitter))
    }
}
