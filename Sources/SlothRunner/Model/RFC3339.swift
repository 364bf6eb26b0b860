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
