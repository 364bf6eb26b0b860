/// What happened to events: finding and listing them, their runs and dead letters, deleting
/// them.
public protocol EventHistoryStore: Sendable {
    /// Finds the event whose id is `idOrPrefix` or starts with it; an unknown id is
    /// `SlothError.notFound`, an ambiguous prefix `SlothError.ambiguous`.
    func resolveEvent(_ idOrPrefix: String) async throws -> Event
    /// Events matching the filter, newest first, at most `filter.limit`.
    func listEvents(_ filter: EventFilter) async throws -> [Event]
    /// Every hook run recorded for an event, in the order they ran.
    func executions(eventID: String) async throws -> [HookExecution]
    /// The hooks that gave up on an event after their last attempt.
    func deadLetters(eventID: String) async throws -> [DeadLetter]
    /// Deletes one event with its executions and dead letters.
    func deleteEvent(id: String) async throws
    /// Deletes events created before the cutoff with `status` (nil: the finished ones, completed
    /// and failed), with their executions, in small batches so a running engine is not held up;
    /// returns how many.
    func deleteEvents(olderThan: Millis, status: EventStatus?) async throws -> Int
    /// How many events there are (with `status`, if given).
    func countEvents(status: EventStatus?) async throws -> Int
}

/// The history's questions only the package's own tools ask: capped counts for listings, what
/// a cleanup would delete, children of an event, activity per bucket for the charts.
package protocol HistoryQueryStore: EventHistoryStore {
    /// How many events match `filter`, counting at most `cap` (a listing says "showing 50 of
    /// 111", or "of more than 10000", without counting millions of rows to say it).
    func countEvents(_ filter: EventFilter, cap: Int) async throws -> Int
    /// What `deleteEvents(olderThan:status:)` would delete.
    func countEvents(olderThan cutoff: Millis, status: EventStatus?) async throws -> Int
    /// How many dead letters there are (event-hook pairs that gave up), for `status`.
    func countDeadLetters() async throws -> Int
    /// The events hook runs of `eventID` dispatched, oldest first, at most `limit`.
    func childEvents(of eventID: String, limit: Int) async throws -> [Event]
    /// Events created since `since`, counted per `bucketMillis` (bucket start, total, failed).
    func activity(since: Millis, bucketMillis: Int64) async throws -> [(start: Millis, total: Int, failed: Int)]
}

/// The change journal behind `GET /stream`: every status change and hook run, numbered in
/// commit order.
package protocol ChangeJournalStore: Sendable {
    /// Journal entries after `seq`, oldest first, at most `limit`, each with its event as it is
    /// now and, for a hook run, the execution. Entries whose event was swept away since are
    /// still returned (without `event`).
    func changes(after seq: Int64, limit: Int) async throws -> [EventChange]
    /// The journal's first and last numbers (nil, nil when empty): a client asking for
    /// everything after a number below `first - 1` missed entries that were pruned.
    func changeBounds() async throws -> (first: Int64?, last: Int64?)
    /// Deletes journal entries older than `cutoff`, never the newest (numbers must not go back).
    func pruneChanges(olderThan cutoff: Millis) async throws -> Int
}
