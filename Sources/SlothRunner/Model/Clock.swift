import Foundation

/// Milliseconds since the Unix epoch: the unit of every timestamp the engine stores.
public typealias Millis = Int64

/// The current time in Unix milliseconds.
public func nowMillis() -> Millis {
    Millis((Date().timeIntervalSince1970 * 1000).rounded(.down))
}

/// Parses durations such as `720h`, `30s`, `1.5m`, `500ms`, `2h30m`, or a bare number of seconds.
package enum DurationText {
    /// The longest duration accepted anywhere: a hundred years. Longer ones (`1e300`, `inf`,
    /// `99999999999999d`) are mistakes, and would not fit the millisecond clock.
    package static let maxSeconds: Double = 100 * 365 * 86_400

    package static func parseSeconds(_ text: String) throws(SlothError) -> Double {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("-") { throw .invalidInput("duration '\(text)' is negative") }
        if let plain = Double(t) {
            guard !plain.isNaN else { throw .invalidInput("duration '\(text)' is not a number") }
            guard plain.isFinite, plain <= maxSeconds else { throw .invalidInput("duration '\(text)' is too long (at most 100 years)") }
            guard plain >= 0 else { throw .invalidInput("duration '\(text)' is negative") }
            return plain
        }
        var total = 0.0
        var number = ""
        var i = t.startIndex
        var sawUnit = false
        while i < t.endIndex {
            let c = t[i]
            if c.isASCII && (c.isNumber || c == ".") {
                number.append(c)
                i = t.index(after: i)
                continue
            }
            var unit = ""
            while i < t.endIndex, t[i].isLetter { unit.append(t[i]); i = t.index(after: i) }
            guard let value = Double(number), !unit.isEmpty else {
                throw .invalidInput("invalid duration '\(text)': expected forms like 30s, 5m, 720h, 1h30m or 500ms")
            }
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "d": scale = 86400
            default: throw .invalidInput("invalid duration unit '\(unit)' in '\(text)': use ms, s, m, h or d")
            }
            total += value * scale
            number = ""
            sawUnit = true
        }
        guard sawUnit, number.isEmpty else {
            throw .invalidInput("invalid duration '\(text)': expected forms like 30s, 5m, 720h, 1h30m or 500ms")
        }
        guard total.isFinite, total <= maxSeconds else { throw .invalidInput("duration '\(text)' is too long (at most 100 years)") }
        return total
    }

    /// A duration given for `name` (an option or a field), within `range` seconds; errors name it.
    package static func seconds(_ text: String, for name: String, in range: ClosedRange<Double> = 0...maxSeconds) throws(SlothError) -> Double {
        let value: Double
        do { value = try parseSeconds(text) } catch { throw .invalidInput("\(name): \(error.description)") }
        try check(value, text: text, for: name, in: range)
        return value
    }

    /// As `seconds`, in milliseconds.
    package static func millis(_ text: String, for name: String, in range: ClosedRange<Double> = 0...maxSeconds) throws(SlothError) -> Int64 {
        Int64((try seconds(text, for: name, in: range) * 1000).rounded())
    }

    /// Checks a number of seconds that came from elsewhere (a hook file's field).
    package static func check(_ value: Double, text: String, for name: String, in range: ClosedRange<Double>) throws(SlothError) {
        guard value.isFinite else { throw .invalidInput("\(name): '\(text)' is not a finite duration") }
        if value < range.lowerBound {
            throw .invalidInput(range.lowerBound == 0 ? "\(name) must not be negative" : "\(name) must be at least \(describe(range.lowerBound)), not \(text)")
        }
        if value > range.upperBound { throw .invalidInput("\(name) must be at most \(describe(range.upperBound)), not \(text)") }
    }

    /// 0.001 → "1ms", 86400 → "24h".
    package static func describe(_ seconds: Double) -> String {
        if seconds >= 365 * 86_400 { return "\(Int(seconds / (365 * 86_400))) years" }
        if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600))h" }
        if seconds >= 1, seconds.truncatingRemainder(dividingBy: 1) == 0 { return "\(Int(seconds))s" }
        return "\(Int((seconds * 1000).rounded()))ms"
    }

    package static func format(millis: Int64) -> String {
        if millis < 1000 { return "\(millis)ms" }
        if millis < 60_000 { return String(format: "%.1fs", Double(millis) / 1000) }
        if millis < 3_600_000 { return "\(millis / 60_000)m\((millis % 60_000) / 1000)s" }
        return "\(millis / 3_600_000)h\((millis % 3_600_000) / 60_000)m"
    }
}
