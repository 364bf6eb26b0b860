/// Which stored events a replay or a what-if run takes (`events replay --type ... --since ...`,
/// `hook test FILE --history 'type=task.failed since=24h limit=500'`): a type or pattern, a
/// status, a stack, a time window and a bound, oldest first.
package struct EventSelection: Sendable, Equatable {
    package var type: EventPattern?
    package var status: EventStatus?
    package var stack: String?
    package var since: Millis?
    package var until: Millis?
    package var limit: Int

    package static let defaultLimit = 500
    package static let maxLimit = 100_000
    /// The keys of the one-string form.
    package static let keys = ["type", "status", "stack", "since", "until", "limit"]

    package init(type: EventPattern? = nil, status: EventStatus? = nil, stack: String? = nil, since: Millis? = nil, until: Millis? = nil, limit: Int = defaultLimit) {
        self.type = type
        self.status = status
        self.stack = stack
        self.since = since
        self.until = until
        self.limit = limit
    }

    /// From the flags' texts; each names itself in its error.
    package static func make(
        type: String?, status: String?, stack: String?, since: String?, until: String?, limit: Int?, now: Millis, prefix: String = "--"
    ) throws(SlothError) -> EventSelection {
        var s = EventSelection()
        if let type { s.type = try EventPattern(type) }
        if let status {
            guard let st = EventStatus(rawValue: status) else {
                throw .invalidInput("\(prefix)status: unknown status '\(status)'; use one of: \(EventStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.status = st
        }
        if let stack {
            try StackName.validate(stack)
            s.stack = stack
        }
        if let since { s.since = try MomentText.millis(since, for: prefix + "since", now: now) }
        if let until { s.until = try MomentText.millis(until, for: prefix + "until", now: now) }
        if let since = s.since, let until = s.until, until <= since {
            throw .invalidInput("\(prefix)until must be later than \(prefix)since")
        }
        if let limit {
            guard (1...maxLimit).contains(limit) else { throw .invalidInput("\(prefix)limit must be from 1 to \(maxLimit), not \(limit)") }
            s.limit = limit
        }
        return s
    }

    /// `type=task.failed since=24h limit=500` (space-separated `key=value` pairs).
    package static func parse(_ text: String, now: Millis) throws(SlothError) -> EventSelection {
        var values: [String: String] = [:]
        for part in text.split(separator: " ", omittingEmptySubsequences: true) {
            guard let eq = part.firstIndex(of: "="), eq != part.startIndex else {
                throw .invalidInput("--history: '\(part)' is not key=value; use \(keys.map { "\($0)=..." }.joined(separator: " "))")
            }
            let key = String(part[..<eq]), value = String(part[part.index(after: eq)...])
            guard keys.contains(key) else {
                throw .invalidInput("--history: unknown key '\(key)'\(NameSuggestion.hint(for: key, among: keys)); use \(keys.joined(separator: ", "))")
            }
            guard values[key] == nil else { throw .invalidInput("--history: '\(key)' is given twice") }
            guard !value.isEmpty else { throw .invalidInput("--history: '\(key)=' has no value") }
            values[key] = value
        }
        var limit: Int?
        if let l = values["limit"] {
            guard let n = Int(l) else { throw .invalidInput("--history: limit must be a whole number, not '\(l)'") }
            limit = n
        }
        return try make(
            type: values["type"], status: values["status"], stack: values["stack"], since: values["since"], until: values["until"],
            limit: limit, now: now, prefix: "")
    }

    /// The selected events, oldest first: the newest `limit` that match, read page by page.
    /// Replays are left out: a replay of a window of history replays what happened, not the
    /// replays made of it before.
    package func events(from store: any EventStore) async throws -> [Event] {
        var filter = EventFilter(type: type?.isPattern == false ? type?.text : nil, status: status, stack: stack, since: since, until: until, limit: 1000)
        var found: [Event] = []
        while found.count < limit {
            let page = try await store.listEvents(filter)
            for e in page where e.replay == nil && type?.matches(e.type) ?? true {
                found.append(e)
                if found.count == limit { break }
            }
            guard page.count == filter.limit, let last = page.last else { break }
            filter.before = last.id
        }
        return found.reversed()
    }

    /// What the selection is, for a summary line: `task.failed, failed, since 2026-…`.
    package var summary: String {
        var parts: [String] = []
        parts.append(type.map { "type \($0.text)" } ?? "every type")
        if let status { parts.append("status \(status.rawValue)") }
        if let stack { parts.append("stack \(stack)") }
        if let since { parts.append("since \(RFC3339.string(millis: since))") }
        if let until { parts.append("until \(RFC3339.string(millis: until))") }
        parts.append("at most \(limit)")
        return parts.joined(separator: ", ")
    }
}

/// A moment given on the command line: RFC 3339 (`2026-12-01T10:00:00Z`), Unix milliseconds,
/// or a duration ago (`90s`, `24h`).
package enum MomentText {
    package static func millis(_ text: String, for name: String, now: Millis) throws(SlothError) -> Millis {
        if let at = RFC3339.parse(text) { return at }
        if let ms = Int64(text), ms >= 0 { return ms }
        if let seconds = try? DurationText.parseSeconds(text), seconds.isFinite, seconds >= 0 { return now - Int64(seconds * 1000) }
        throw .invalidInput("\(name) must be an RFC 3339 time (2026-12-01T10:00:00Z), Unix milliseconds, or a duration ago (90s, 24h), not '\(text)'")
    }
}
