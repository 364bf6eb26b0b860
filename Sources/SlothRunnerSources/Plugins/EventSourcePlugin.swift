import Logging
import SlothRunner

/// One producer of events that arrive on their own (the clock, the machine, its files and
/// services, the engine itself), in the manner of Oban's plugins: a small type that does one
/// thing. `SourcesService` runs each in `serve`'s service group, restarts it when it fails, and
/// keeps what it reports for `sloth-runner sources`.
public protocol EventSourcePlugin: Sendable {
    /// Unique among the daemon's sources: `engine`, `scheduler`, `check:web`.
    var name: String { get }
    /// What it is: `engine`, `scheduler`, `monitor`, `check`, `watch`.
    var kind: String { get }
    /// Runs until the task is cancelled (the daemon shutting down), emitting through
    /// `context`. Throwing marks the source failing; it is started again after a backoff.
    func run(_ context: SourceContext) async throws
    /// Whether one node of the store runs it at a time (the scheduler, health checks): the
    /// others stand by and take it over within a lease period of its node dying. Sources about
    /// the machine itself (its files, its load) run on every node.
    var runsOnOneNode: Bool { get }
}

extension EventSourcePlugin {
    public var runsOnOneNode: Bool { false }
}

/// What a source gets to work with.
public struct SourceContext: Sendable {
    public let engine: Engine
    public let clock: any SourceClock
    public let logger: Logger
    let name: String
    let book: SourceStatusBook

    /// The part of the store each source keeps its definitions in: a source asks for its own
    /// part, not the whole store.
    var schedules: any ScheduleStore { engine.driver }
    var checks: any HealthCheckStore { engine.driver }
    var watches: any FileWatchStore { engine.driver }

    /// Dispatches an event through the engine (durable when this returns), with the source's
    /// name added to its data (`source`), counted in the source's figures.
    @discardableResult
    public func emit(_ type: String, _ data: [String: JSONValue], stack: String? = nil) async throws(SlothError) -> Event {
        var data = data
        if data["source"] == nil { data["source"] = .string(name) }
        let event = try await engine.dispatch(NewEvent(type: type, data: .object(data), stack: stack))
        book.emitted(name, type: type, at: clock.now(), count: 1)
        return event
    }

    /// Dispatches several events in one commit (all or none), each with the source's name.
    @discardableResult
    public func emit(batch: [(type: String, data: [String: JSONValue], stack: String?)]) async throws(SlothError) -> [Event] {
        guard !batch.isEmpty else { return [] }
        let events = try await engine.dispatch(batch: batch.map { item in
            var data = item.data
            if data["source"] == nil { data["source"] = .string(name) }
            return NewEvent(type: item.type, data: .object(data), stack: item.stack)
        })
        var byType: [String: Int] = [:]
        for e in events { byType[e.type, default: 0] += 1 }
        for (type, count) in byType.sorted(by: { $0.key < $1.key }) { book.emitted(name, type: type, at: clock.now(), count: count) }
        return events
    }

    /// Tells the book the source works (after a failure, clears it).
    public func running() { book.set(name, state: .running, error: nil, at: clock.now()) }

    /// Tells the book the source is failing, and why, while it goes on (a check that cannot
    /// reach its target is not failing: the source works; a watcher out of inotify watches is).
    public func failing(_ why: String) { book.set(name, state: .failing, error: why, at: clock.now()) }

    /// Counts events a source stored by another path (the scheduler's slot transactions).
    public func counted(_ count: Int, type: String) { book.emitted(name, type: type, at: clock.now(), count: count) }
}
