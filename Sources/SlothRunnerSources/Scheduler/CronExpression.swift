import Foundation
import SlothRunner

/// When a schedule fires: a cron expression (5 fields, or 6 with seconds first), a macro
/// (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`), or a fixed interval (`@every 30s`).
///
/// ```
/// */15 9-17 * * MON-FRI      every 15 minutes in office hours
/// 30 2 * * *                 02:30 every day (on a spring-forward day: once, at 03:00)
/// 0 */10 * * * *             every 10 seconds (6 fields: seconds first)
/// @every 90s                 every 90 seconds, aligned to the Unix epoch
/// ```
///
/// Day of month and day of week follow Vixie cron: when both are restricted, a day matching
/// either matches. Slots are computed on the wall clock of the schedule's zone (see `next`).
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let text: String
    enum Kind: Equatable {
        case fields(seconds: Set<Int>, minutes: Set<Int>, hours: Set<Int>, days: Set<Int>, months: Set<Int>, weekdays: Set<Int>, daysRestricted: Bool, weekdaysRestricted: Bool)
        case every(millis: Int64)
    }
    let kind: Kind

    public var description: String { text }

    /// The fixed interval of an `@every` schedule, in milliseconds.
    public var intervalMillis: Int64? { if case .every(let ms) = kind { return ms } else { return nil } }

    private struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String: Int]
    }
    private static let monthNames = ["JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12]
    private static let dayNames = ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6]
    private static let fields = [
        Field(name: "second", range: 0...59, names: [:]), Field(name: "minute", range: 0...59, names: [:]),
        Field(name: "hour", range: 0...23, names: [:]), Field(name: "day of month", range: 1...31, names: [:]),
        Field(name: "month", range: 1...12, names: monthNames), Field(name: "day of week", range: 0...7, names: dayNames),
    ]
    private static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Parses `text`; an invalid expression is `SlothError.invalidInput` naming the field.
    public init(_ text: String) throws(SlothError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        self.text = trimmed
        let lower = trimmed.lowercased()
        if lower.hasPrefix("@every") {
            let rest = trimmed.dropFirst("@every".count).trimmingCharacters(in: .whitespaces)
            guard !rest.isEmpty else { throw .invalidInput("cron '\(text)': @every needs a duration, as in '@every 30s'") }
            let ms = try DurationText.millis(rest, for: "cron '\(text)': @every", in: 1...(366 * 86_400))
            kind = .every(millis: ms)
            return
        }
        var expanded = trimmed
        if trimmed.hasPrefix("@") {
            guard let macro = Self.macros[lower] else {
                throw .invalidInput("cron '\(text)': unknown macro; use @yearly, @monthly, @weekly, @daily, @hourly or @every DURATION")
            }
            expanded = macro
        }
        var parts = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 || parts.count == 6 else {
            throw .invalidInput("cron '\(text)': \(parts.count) field(s); expected 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)")
        }
        // Fields are numbered as the user wrote them (with 5, the minute is field 1).
        let offset = parts.count == 5 ? 1 : 0
        if parts.count == 5 { parts.insert("0", at: 0) }
        var sets: [Set<Int>] = []
        for (index, part) in parts.enumerated() {
            let position = index + 1 - offset
            sets.append(try Self.parse(part, Self.fields[index], position: position, in: text))
        }
        var weekdays = sets[5]
        if weekdays.remove(7) != nil { weekdays.insert(0) }  // 7 is Sunday too
        kind = .fields(seconds: sets[0], minutes: sets[1], hours: sets[2], days: sets[3], months: sets[4], weekdays: weekdays,
                       daysRestricted: parts[3] != "*" && parts[3] != "?", weekdaysRestricted: parts[5] != "*" && parts[5] != "?")
    }

    private static func parse(_ part: String, _ field: Field, position: Int, in text: String) throws(SlothError) -> Set<Int> {
        func fail(_ why: String) -> SlothError {
            .invalidInput("cron '\(text)': field \(position) (\(field.name)) '\(part)': \(why)")
        }
        func value(_ s: Substring) throws(SlothError) -> Int {
            if let n = Int(s) {
                guard field.range.contains(n) else { throw fail("\(n) is out of range \(field.range.lowerBound)-\(field.range.upperBound)") }
                return n
            }
            if let n = field.names[s.uppercased()] { return n }
            throw fail(field.names.isEmpty ? "'\(s)' is not a number" : "'\(s)' is not a number or a name (\(field.names.sorted { $0.value < $1.value }.map(\.key).joined(separator: ", ")))")
        }
        var out = Set<Int>()
        for item in part.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("an empty list item") }
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw fail("more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else { throw fail("the step '\(pieces[1])' must be a positive number") }
                step = s
            }
            let base = pieces[0]
            var low: Int, high: Int
            if base == "*" || base == "?" {
                (low, high) = (field.range.lowerBound, field.range.upperBound)
                if field.name == "day of week" { high = 6 }
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(base[..<dash])
                high = try value(base[base.index(after: dash)...])
                guard low <= high else { throw fail("the range \(low)-\(high) goes backwards") }
            } else {
                low = try value(base)
                // `5/15`: from 5 to the end, every 15.
                high = pieces.count == 2 ? (field.name == "day of week" ? 6 : field.range.upperBound) : low
            }
            out.formUnion(stride(from: low, through: high, by: step))
        }
        return out
    }

    // MARK: slots

    /// The first slot strictly after `after`, on the wall clock of `zone`; nil if there is none
    /// within 30 years (`0 0 30 2 *`). A wall time that does not exist (skipped by a
    /// spring-forward change) fires at the first valid moment after the gap, once however many
    /// slots fell in it; a wall time that happens twice (fall back) fires at its first occurrence.
    public func next(after: Millis, in zone: TimeZone) -> Millis? {
        switch kind {
        case .every(let ms):
            return (after.floorDiv(ms) + 1) * ms
        case let .fields(seconds, minutes, hours, days, months, weekdays, daysRestricted, weekdaysRestricted):
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            // Work on "wall seconds": the zone's local time written as if it were UTC.
            let afterSeconds = after.floorDiv(1000)
            // A slot's instant is its wall time minus the zone's offset then, so a wall time
            // below `after` + the smallest offset around it cannot be after `after` (only in a
            // fall-back hour does this reach below `wallAfter`). Candidates below are skipped
            // without converting them.
            let offsets = [-86_400, 0, 86_400].map { Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(afterSeconds + Int64($0))))) }
            let threshold = afterSeconds + (offsets.min() ?? 0)
            var day = threshold.floorDiv(86_400)
            let sortedHours = hours.sorted(), sortedMinutes = minutes.sorted(), sortedSeconds = seconds.sorted()
            for _ in 0..<(366 * 30) {
                defer { day += 1 }
                let date = calendar.dateComponents([.month, .day, .weekday], from: Date(timeIntervalSince1970: Double(day * 86_400)))
                guard let month = date.month, let dom = date.day, let weekday = date.weekday, months.contains(month) else { continue }
                let domMatch = days.contains(dom), dowMatch = weekdays.contains(weekday - 1)
                let dayMatches = daysRestricted && weekdaysRestricted ? (domMatch || dowMatch)
                    : daysRestricted ? domMatch : weekdaysRestricted ? dowMatch : true
                guard dayMatches else { continue }
                for h in sortedHours {
                    let hourStart = day * 86_400 + Int64(h * 3600)
                    if hourStart + 3599 < threshold { continue }
                    for m in sortedMinutes {
                        let minuteStart = hourStart + Int64(m * 60)
                        if minuteStart + 59 < threshold { continue }
                        for s in sortedSeconds {
                            let wall = minuteStart + Int64(s)
                            if wall < threshold { continue }
                            let instant = Self.instant(wall: wall, in: zone)
                            if instant * 1000 > after { return instant * 1000 }
                        }
                    }
                }
            }
            return nil
        }
    }

    /// The slots in `(after, through]`, oldest first, at most `limit`.
    public func slots(after: Millis, through: Millis, in zone: TimeZone, limit: Int) -> [Millis] {
        var out: [Millis] = []
        var cursor = after
        while out.count < limit, let next = next(after: cursor, in: zone), next <= through {
            out.append(next)
            cursor = next
        }
        return out
    }

    /// The instant (Unix seconds) of a wall time in `zone`: its first occurrence when it happens
    /// twice, the end of the gap when it does not exist.
    static func instant(wall: Int64, in zone: TimeZone) -> Int64 {
        let before = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(wall - 86_400))))
        let after = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(wall + 86_400))))
        // The larger offset gives the earlier instant: try it first.
        for offset in [max(before, after), min(before, after)] {
            let t = wall - offset
            if Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t)))) == offset { return t }
        }
        // In a gap: the moment the clocks jumped.
        let start = wall - min(before, after)
        if let jump = zone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: Double(start - 86_400))) {
            return Int64(jump.timeIntervalSince1970.rounded(.up))
        }
        return start
    }
}

extension Int64 {
    /// Division rounding toward negative infinity (times before 1970 stay in their bucket).
    func floorDiv(_ d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
