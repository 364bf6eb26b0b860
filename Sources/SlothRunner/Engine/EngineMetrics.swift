import Metrics

/// What the engine counts, on swift-metrics: nothing is recorded unless the embedding program
/// bootstraps a metrics backend (`serve` bootstraps Prometheus for `/metrics`). Every metric is
/// made once (per engine, or per hook version), never per event, and labels stay bounded: a
/// status, an outcome, a hook's name — never an event id or a free-form type.
struct EngineMetrics: Sendable {
    let completed = Counter(label: "sloth_events_finished_total", dimensions: [("status", "completed")])
    let failed = Counter(label: "sloth_events_finished_total", dimensions: [("status", "failed")])
    let retried = Counter(label: "sloth_events_finished_total", dimensions: [("status", "retry")])
    let fromHooks = Counter(label: "sloth_events_accepted_total", dimensions: [("source", "hook")])
    let claimed = Counter(label: "sloth_events_claimed_total")
    /// Events another process wrote straight to the store (the CLI's `events dispatch`), counted
    /// when this engine first claims them: a first claim of an event with no parent event.
    let fromStore = Counter(label: "sloth_events_accepted_total", dimensions: [("source", "cli")])
    let leaseRescues = Counter(label: "sloth_lease_rescues_total")

    func finished(_ status: EventStatus) {
        switch status {
        case .completed: completed.increment()
        case .failed: failed.increment()
        case .pending: retried.increment()
        case .processing: break
        }
    }
}

/// A hook's runs by outcome and their durations (one set per hook version, made with it).
struct HookMetrics: Sendable {
    static let outcomes = ["success", "failure", "timeout", "memory", "dead_letter"]
    private let runs: [String: Counter]
    private let duration: Metrics.Timer

    init(hookName: String) {
        var runs: [String: Counter] = [:]
        for outcome in Self.outcomes {
            runs[outcome] = Counter(label: "sloth_hook_runs_total", dimensions: [("hook", hookName), ("outcome", outcome)])
        }
        self.runs = runs
        duration = Metrics.Timer(label: "sloth_hook_duration_seconds", dimensions: [("hook", hookName)], preferredDisplayUnit: .seconds)
    }

    /// `dead`: the run failed and was the hook's last attempt for the event.
    func record(_ result: HookRunResult, dead: Bool) {
        duration.recordMilliseconds(result.durationMillis)
        let outcome: String
        if result.success {
            outcome = "success"
        } else if dead {
            outcome = "dead_letter"
        } else if let message = result.message, message.hasPrefix("timeout") {
            outcome = "timeout"
        } else if let message = result.message, message.hasPrefix("memory limit") {
            outcome = "memory"
        } else {
            outcome = "failure"
        }
        runs[outcome]?.increment()
    }
}

/// What storm control did to a hook's runs: `sloth_hook_storm_total{hook, action}` with action
/// throttled, debounced (skipped), debounce_waiting, rate_limited, concurrency, circuit_open
/// (deferred), circuit_opened, circuit_closed.
struct StormMetrics: Sendable {
    static let actions = ["throttled", "debounced", "debounce_waiting", "rate_limited", "concurrency", "circuit_open", "circuit_opened", "circuit_closed"]
    private let counters: [String: Counter]

    init(hookName: String) {
        var c: [String: Counter] = [:]
        for a in Self.actions { c[a] = Counter(label: "sloth_hook_storm_total", dimensions: [("hook", hookName), ("action", a)]) }
        counters = c
    }

    func count(_ action: String) { counters[action]?.increment() }
}
