import Foundation

/// Milliseconds since the Unix epoch: the unit of every timestamp the engine stores.
public typealias Millis = Int64

public func nowMillis() -> Millis {
    Millis((Date().timeIntervalSince1970 * 1000).rounded(.down))
}

/// Parses durations such as `720h`, `30s`, `1.5m`, `500ms`, `2h30m`, or a bare number of seconds.
public enum DurationText {
    public static func parseSeconds(_ text: String) throws(SlothError) -> Double {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let plain = Double(t) {
            guard plain >= 0 else { throw .invalidInput("duration '\(text)' is negative") }
            return plain
        }
        var total = 0.0
        var number = ""
        var i = t.startIndex
        var sawUnit = false
        while i < t.endIndex {
            let c = t[i]
            if c.isNumber || c == "." {
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
        return total
    }

    public static func format(millis: Int64) -> String {
        if millis < 1000 { return "\(millis)ms" }
        if millis < 60_000 { return String(format: "%.1fs", Double(millis) / 1000) }
        if millis < 3_600_000 { return "\(millis / 60_000)m\((millis % 60_000) / 1000)s" }
        return "\(millis / 3_600_000)h\((millis % 3_600_000) / 60_000)m"
    }
}
