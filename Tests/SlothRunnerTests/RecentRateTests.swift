import Testing
@testable import SlothRunner

@Suite struct RecentRateTests {
    @Test func countsTheLastSixtyWholeSeconds() {
        let rate = RecentRate()
        for _ in 0..<5 { rate.record(atSecond: 1000) }
        for _ in 0..<3 { rate.record(atSecond: 1030) }
        rate.record(atSecond: 1059)
        #expect(rate.total(beforeSecond: 1060) == 9)
        #expect(rate.total(beforeSecond: 1059) == 8, "the current second is left out")
        #expect(rate.total(beforeSecond: 1061) == 4, "second 1000 is more than a minute back")
        // A slot is reused a minute later: the old count is replaced, not added to.
        rate.record(atSecond: 1060)
        #expect(rate.total(beforeSecond: 1061) == 5)
        #expect(rate.total(beforeSecond: 2000) == 0)
    }
}
