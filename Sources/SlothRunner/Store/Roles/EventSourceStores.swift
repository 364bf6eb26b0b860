// What the event sources keep in the store: their definitions (each with a version a running
// source polls cheaply) and what the daemon's sources report.

/// Schedules (the scheduler source).
package protocol ScheduleStore: Sendable {
    /// Stores a schedule; a name already taken is `SlothError.conflict`.
    func scheduleAdd(_ schedule: Schedule) async throws
    func schedule(named name: String) async throws -> Schedule?
    func scheduleList() async throws -> [Schedule]
    /// Removes a schedule; false if there was none.
    func scheduleRemove(name: String) async throws -> Bool
    /// Enables or disables a schedule; enabling moves its `firedThrough` to `now`, so the slots
    /// of the time it was off are not caught up. False if there is none.
    func scheduleSetEnabled(name: String, enabled: Bool, now: Millis) async throws -> Bool
    /// In one transaction: when the schedule is enabled and handled exactly through `from`,
    /// moves it to `through` and stores `events` (pending); otherwise stores nothing and returns
    /// false (another scheduler or a CLI change came first). A slot thus fires once, whatever
    /// crashes.
    func scheduleFire(name: String, from: Millis, through: Millis, events: [Event]) async throws -> Bool
    /// Makes the store's schedules match those a config file declares (as `webhookSync`); a
    /// schedule declared again unchanged keeps its id and where it is up to (its mark), one
    /// whose definition changed keeps them too, so no slot fires twice.
    func scheduleSync(declared: [Schedule]) async throws -> (added: [String], changed: [String], removed: [String])
    /// Bumped by every schedule change but firing: a running scheduler polls it cheaply.
    func schedulesVersion() async throws -> Int64
}

/// Health checks (the checks source).
package protocol HealthCheckStore: Sendable {
    /// Stores a check; a name already taken is `SlothError.conflict`.
    func checkAdd(_ check: HealthCheck) async throws
    func check(named name: String) async throws -> HealthCheck?
    func checkList() async throws -> [HealthCheck]
    /// Removes a check; false if there was none.
    func checkRemove(name: String) async throws -> Bool
    /// Makes the store's checks match those a config file declares, in one transaction (as
    /// `webhookSync`): adds and changes them, removes the ones declared before and no longer.
    func checkSync(declared: [HealthCheck]) async throws -> (added: [String], changed: [String], removed: [String])
    /// Bumped by every change: a running checks source polls it cheaply.
    func checksVersion() async throws -> Int64
}

/// File watches (the watcher source), with the snapshot each compares a restart against.
package protocol FileWatchStore: Sendable {
    /// Stores a watch; a name already taken is `SlothError.conflict`.
    func watchAdd(_ watch: FileWatch) async throws
    func watch(named name: String) async throws -> FileWatch?
    func watchList() async throws -> [FileWatch]
    /// Removes a watch and its snapshot; false if there was none.
    func watchRemove(name: String) async throws -> Bool
    /// Makes the store's watches match those a config file declares (as `webhookSync`).
    func watchSync(declared: [FileWatch]) async throws -> (added: [String], changed: [String], removed: [String])
    /// Bumped by every change: a running watcher polls it cheaply.
    func watchesVersion() async throws -> Int64
    /// A watch's snapshot: what it last knew of each path; nil if it never took one.
    func watchSnapshot(_ watch: String) async throws -> [String: WatchedFile]?
    /// Updates a watch's snapshot in one transaction: sets `changed`, deletes `removed`
    /// (with `replace`, the snapshot becomes exactly `changed`).
    func watchSnapshotApply(_ watch: String, changed: [String: WatchedFile], removed: [String], replace: Bool) async throws
}

/// What the daemon's event sources report (`sloth-runner sources`).
package protocol SourceStatusStore: Sendable {
    /// Replaces every row with `statuses` (the running daemon's sources, as they are now).
    func sourceStatusReplace(_ statuses: [SourceStatus]) async throws
    func sourceStatusList() async throws -> [SourceStatus]
}
