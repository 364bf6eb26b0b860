/// Timestamps as RFC 3339 text in UTC with milliseconds (`2026-12-01T14:30:05.123Z`), the form
/// of every timestamp in JSON output and logs. Computed directly (no formatter, no locale):
/// logging calls it for every line.
package enum RFC3339 {
    package static func string(millis: Millis) -> String {
        let ms = Int64(millis)
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let inDay = ms - days * 86_400_000
        let (y, m, d) = civil(fromDays: days)
        let h = inDay / 3_600_000, mi = inDay / 60_000 % 60, s = inDay / 1000 % 60, f = inDay % 1000
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(h, 2)):\(pad(mi, 2)):\(pad(s, 2)).\(pad(f, 3))Z"
    }

    private static func pad(_ n: Int64, _ width: Int) -> String {
        let digits = String(n)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// Parses `2026-12-01T14:30:05Z`, with optional fractional seconds and a `Z` or `±HH:MM`
    /// offset (a space or lowercase `t` in place of the `T` too, as RFC 3339 allows); nil for
    /// anything else.
    package static func parse(_ text: String) -> Millis? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= b.count else { return nil }
            var n: Int64 = 0
            for c in b[from..<(from + count)] {
                guard c >= 0x30, c <= 0x39 else { return nil }
                n = n * 10 + Int64(c - 0x30)
            }
            return n
        }
        guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, [0x54, 0x74, 0x20].contains(b[10]), b[13] == 0x3A, b[16] == 0x3A,
            let y = number(0, 4), let mo = number(5, 2), let d = number(8, 2), let h = number(11, 2), let mi = number(14, 2),
            let sec = number(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61
        else { return nil }
        var at = 19
        var fraction: Int64 = 0
        if at < b.count, b[at] == 0x2E {
            at += 1
            var digits = 0
            while at < b.count, b[at] >= 0x30, b[at] <= 0x39 {
                if digits < 3 { fraction = fraction * 10 + Int64(b[at] - 0x30) }
                digits += 1
                at += 1
            }
            guard digits > 0 else { return nil }
            if digits < 3 { for _ in digits..<3 { fraction *= 10 } }
        }
        var offsetMinutes: Int64 = 0
        guard at < b.count else { return nil }
        if b[at] == 0x5A || b[at] == 0x7A {
            at += 1
        } else if b[at] == 0x2B || b[at] == 0x2D, at + 6 == b.count, b[at + 3] == 0x3A, let oh = number(at + 1, 2), let om = number(at + 4, 2), oh < 24, om < 60 {
            offsetMinutes = (oh * 60 + om) * (b[at] == 0x2D ? -1 : 1)
            at += 6
        } else {
            return nil
        }
        guard at == b.count else { return nil }
        let days = daysFromCivil(y, mo, d)
        guard civil(fromDays: days) == (y, mo, d) else { return nil }  // 31 February
        return ((days * 86_400 + h * 3600 + mi * 60 + min(sec, 59)) - offsetMinutes * 60) * 1000 + fraction
    }

    /// Days since 1970-01-01 of a civil date (Howard Hinnant's days-from-civil).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Howard Hinnant's days-from-civil inverse: days since 1970-01-01 → (year, month, day).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension JSONValue {
    /// A moment in JSON output: RFC 3339 text (null when absent). Each such field has a
    /// `<name>_ms` twin with the epoch milliseconds (see docs/cli-json.md).
    package static func time(_ millis: Millis?) -> JSONValue {
        millis.map { .string(RFC3339.string(millis: $0)) } ?? .null
    }

    /// Sets `name` (RFC 3339) and `name_ms` (epoch milliseconds) in an object.
    package static func stamp(_ object: inout [String: JSONValue], _ name: String, _ millis: Millis?) {
        object[name] = time(millis)
        object[name + "_ms"] = millis.map { .int($0) } ?? .null
    }
}
