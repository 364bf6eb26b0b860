import Metrics
import SlothRunner
import Synchronization

/// What every source of this daemon reports: its state, why it fails, its last event and how
/// many it emitted. `SourcesService` writes it to the store on a tick (for `sloth-runner
/// sources`, another process); each emitted event also counts in
/// `sloth_events_accepted_total{source="NAME"}`.
public final class SourceStatusBook: Sendable {
    private let rows = Mutex<(statuses: [String: SourceStatus], changed: Bool)>(([:], false))
    private let counters = Mutex<[String: Counter]>([:])

    public init() {}

    func register(_ name: String, kind: String, at now: Millis) {
        rows.withLock {
            $0.statuses[name] = SourceStatus(name: name, kind: kind, state: .starting, updatedAt: now)
            $0.changed = true
        }
    }

    func set(_ name: String, state: SourceStatus.State, error: String?, at now: Millis) {
        rows.withLock {
            guard var s = $0.statuses[name], s.state != state || s.error != error else { return }
            s.state = state
            s.error = error
            s.updatedAt = now
            $0.statuses[name] = s
            $0.changed = true
        }
    }

    func emitted(_ name: String, type: String, at now: Millis, count: Int) {
        guard count > 0 else { return }
        rows.withLock {
            guard var s = $0.statuses[name] else { return }
            s.emitted += Int64(count)
            s.lastEventAt = now
            s.lastEventType = type
            s.updatedAt = now
            $0.statuses[name] = s
            $0.changed = true
        }
        let counter = counters.withLock { c in
            if let known = c[name] { return known }
            let made = Counter(label: "sloth_events_accepted_total", dimensions: [("source", name)])
            c[name] = made
            return made
        }
        counter.increment(by: count)
    }

    /// Every source, by name.
    package var snapshot: [SourceStatus] { rows.withLock { $0.statuses.values.sorted { $0.name < $1.name } } }

    /// The rows if they changed since the last call.
    func takeChanged() -> [SourceStatus]? {
        rows.withLock { r in
            guard r.changed else { return nil }
            r.changed = false
            return r.statuses.values.sorted { $0.name < $1.name }
        }
    }

    func status(_ name: String) -> SourceStatus? { rows.withLock { $0.statuses[name] } }
}
