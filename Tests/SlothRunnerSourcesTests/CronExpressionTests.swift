import Foundation
import Testing
@testable import SlothRunnerSources
import SlothRunner

@Suite struct CronExpressionTests {
    let utc = TimeZone(identifier: "UTC")!
    func at(_ text: String) -> Millis { RFC3339.parse(text)! }
    func show(_ ms: Millis?) -> String { ms.map { RFC3339.string(millis: $0) } ?? "none" }

    @Test func fieldsRangesStepsListsAndNames() throws {
        let c = try CronExpression("*/15 9-17 * * MON-FRI")
        // Friday 2026-12-04 17:50 → Monday 09:00.
        #expect(show(c.next(after: at("2026-12-04T17:50:00Z"), in: utc)) == "2026-12-07T09:00:00.000Z")
        #expect(show(c.next(after: at("2026-12-07T09:00:00Z"), in: utc)) == "2026-12-07T09:15:00.000Z")
        let list = try CronExpression("0 0 1,15 JAN,jul *")
        #expect(show(list.next(after: at("2026-12-01T00:00:00Z"), in: utc)) == "2027-01-01T00:00:00.000Z")
        #expect(show(list.next(after: at("2027-01-01T00:00:00Z"), in: utc)) == "2027-01-15T00:00:00.000Z")
        #expect(show(list.next(after: at("2027-01-15T00:00:00Z"), in: utc)) == "2027-07-01T00:00:00.000Z")
        let stepFrom = try CronExpression("5/20 * * * *")
        #expect(stepFrom.slots(after: at("2026-12-01T10:00:00Z"), through: at("2026-12-01T10:59:59Z"), in: utc, limit: 10).map(show)
                == ["2026-12-01T10:05:00.000Z", "2026-12-01T10:25:00.000Z", "2026-12-01T10:45:00.000Z"])
        // Sunday is 0 and 7.
        #expect(try CronExpression("0 12 * * 7").next(after: at("2026-12-01T00:00:00Z"), in: utc) == at("2026-12-06T12:00:00Z"))
        #expect(try CronExpression("0 12 * * SUN").next(after: at("2026-12-01T00:00:00Z"), in: utc) == at("2026-12-06T12:00:00Z"))
    }

    @Test func dayOfMonthOrDayOfWeekWhenBothAreRestricted() throws {
        // Vixie cron: the 13th, or any Friday.
        let c = try CronExpression("0 0 13 * FRI")
        #expect(c.slots(after: at("2026-11-30T00:00:00Z"), through: at("2026-12-15T00:00:00Z"), in: utc, limit: 10).map(show)
                == ["2026-12-04T00:00:00.000Z", "2026-12-11T00:00:00.000Z", "2026-12-13T00:00:00.000Z"])
    }

    @Test func secondsMacrosAndEvery() throws {
        let six = try CronExpression("*/10 * * * * *")
        #expect(six.next(after: at("2026-12-01T10:00:05Z"), in: utc) == at("2026-12-01T10:00:10Z"))
        #expect(try CronExpression("@hourly").next(after: at("2026-12-01T10:00:00Z"), in: utc) == at("2026-12-01T11:00:00Z"))
        #expect(try CronExpression("@daily").next(after: at("2026-12-01T10:00:00Z"), in: utc) == at("2026-12-02T00:00:00Z"))
        #expect(try CronExpression("@weekly").next(after: at("2026-12-01T10:00:00Z"), in: utc) == at("2026-12-06T00:00:00Z"))
        let every = try CronExpression("@every 30s")
        #expect(every.next(after: at("2026-12-01T10:00:05Z"), in: utc) == at("2026-12-01T10:00:30Z"))
        #expect(every.next(after: at("2026-12-01T10:00:30Z"), in: utc) == at("2026-12-01T10:01:00Z"))
        #expect(try CronExpression("0 0 30 2 *").next(after: at("2026-12-01T00:00:00Z"), in: utc) == nil)
        #expect(try CronExpression("0 0 29 2 *").next(after: at("2026-12-01T00:00:00Z"), in: utc) == at("2028-02-29T00:00:00Z"))
    }

    @Test func invalidExpressionsPointAtTheField() {
        func message(_ text: String) -> String {
            do { _ = try CronExpression(text); return "accepted" } catch { return error.description }
        }
        #expect(message("61 * * * *").contains("field 1 (minute) '61': 61 is out of range 0-59"))
        #expect(message("0 25 * * *").contains("field 2 (hour) '25': 25 is out of range 0-23"))
        #expect(message("0 0 * FOO *").contains("field 4 (month) 'FOO'"))
        #expect(message("0 0 * * MON-XYZ").contains("field 5 (day of week)"))
        #expect(message("* * * *").contains("4 field(s); expected 5"))
        #expect(message("*/0 * * * *").contains("step '0' must be a positive number"))
        #expect(message("5-1 * * * *").contains("goes backwards"))
        #expect(message("@sometimes").contains("unknown macro"))
        #expect(message("@every").contains("needs a duration"))
        #expect(message("@every 0s").contains("at least"))
        #expect(message("0 61 * * * *").contains("field 2 (minute)"))
    }

    @Test func springForwardFiresOnceAtTheFirstValidTime() throws {
        // Europe/Berlin, 2027-03-28: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        let daily = try CronExpression("30 2 * * *")
        let slots = daily.slots(after: at("2027-03-26T12:00:00Z"), through: at("2027-03-30T12:00:00Z"), in: berlin, limit: 10).map(show)
        #expect(slots == [
            "2027-03-27T01:30:00.000Z",  // 02:30 CET
            "2027-03-28T01:00:00.000Z",  // 03:00 CEST: the first valid time after the gap
            "2027-03-29T00:30:00.000Z",  // 02:30 CEST
            "2027-03-30T00:30:00.000Z",
        ])
        // Every minute of 02:00-03:59: the sixty slots of the gap and 03:00 itself are one
        // moment (01:00Z), fired once; then 03:01, 03:02 as usual.
        let minutely = try CronExpression("* 2-3 28 3 *")
        let around = minutely.slots(after: at("2027-03-28T00:00:00Z"), through: at("2027-03-28T01:02:00Z"), in: berlin, limit: 100).map(show)
        #expect(around == ["2027-03-28T01:00:00.000Z", "2027-03-28T01:01:00.000Z", "2027-03-28T01:02:00.000Z"])
    }

    @Test func fallBackFiresOnceAtTheFirstOccurrence() throws {
        // America/New_York, 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice.
        let ny = TimeZone(identifier: "America/New_York")!
        let daily = try CronExpression("30 1 * * *")
        let slots = daily.slots(after: at("2026-10-31T00:00:00Z"), through: at("2026-11-02T23:00:00Z"), in: ny, limit: 10).map(show)
        #expect(slots == [
            "2026-10-31T05:30:00.000Z",  // 01:30 EDT
            "2026-11-01T05:30:00.000Z",  // 01:30 EDT, the first of the two; not again at 06:30Z
            "2026-11-02T06:30:00.000Z",  // 01:30 EST
        ])
    }
}
