import Testing
@testable import SlothRunnerServer

/// The rate limit's buckets on a clock the test sets: a burst of `count`, then the rate.
@Suite struct RateLimitTests {
    @Test func aBurstThenTheRate() {
        var buckets = TokenBuckets(rate: RequestRate(count: 3, periodSeconds: 1))
        for _ in 0..<3 { #expect(buckets.take("a", now: 10) == nil) }
        let wait = buckets.take("a", now: 10)
        #expect(wait.map { abs($0 - 1.0 / 3) < 1e-9 } == true, "\(String(describing: wait))")
        // Another client has its own budget.
        #expect(buckets.take("b", now: 10) == nil)
        // A third of a second later one request is allowed again, and only one.
        #expect(buckets.take("a", now: 10 + 1.0 / 3) == nil)
        #expect(buckets.take("a", now: 10 + 1.0 / 3) != nil)
        // Idle for long: the bucket holds at most `count`, not more.
        for _ in 0..<3 { #expect(buckets.take("a", now: 1000) == nil) }
        #expect(buckets.take("a", now: 1000) != nil)
    }

    @Test func refusedRequestsDoNotEarnCredit() {
        var buckets = TokenBuckets(rate: RequestRate(count: 1, periodSeconds: 60))
        #expect(buckets.take("a", now: 0) == nil)
        #expect(buckets.take("a", now: 30).map { abs($0 - 30) < 1e-9 } == true)
        #expect(buckets.take("a", now: 59) != nil)
        #expect(buckets.take("a", now: 60) == nil)
    }

    @Test func aFloodOfClientsDoesNotGrowMemory() {
        var buckets = TokenBuckets(rate: RequestRate(count: 10, periodSeconds: 1), capacity: 100)
        for i in 0..<1000 { _ = buckets.take("client-\(i)", now: Double(i)) }
        #expect(buckets.clients <= 101)
    }

    @Test func ratesParse() throws {
        #expect(try RequestRate.parse("100/s").get() == RequestRate(count: 100, periodSeconds: 1))
        #expect(try RequestRate.parse("600/M").get() == RequestRate(count: 600, periodSeconds: 60))
        #expect(try RequestRate.parse("off").get() == nil)
        #expect(try RequestRate.parse("0").get() == nil)
        for bad in ["100", "100/d", "x/s", "-1/s", "0/s", "100/s/s", ""] {
            guard case .failure(let problem) = RequestRate.parse(bad) else { Issue.record("'\(bad)' parsed"); continue }
            #expect(problem.message.contains("100/s"))
        }
    }
}
