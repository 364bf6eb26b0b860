import Synchronization

/// A rate limit: `count` requests per `periodSeconds`, with bursts of up to `count` (`100/s`,
/// `600/m`, `10000/h`).
public struct RequestRate: Sendable, Equatable, CustomStringConvertible {
    public let count: Int
    public let periodSeconds: Double

    public init(count: Int, periodSeconds: Double) {
        self.count = count
        self.periodSeconds = periodSeconds
    }

    var perSecond: Double { Double(count) / periodSeconds }

    public var description: String {
        "\(count)/" + (periodSeconds == 1 ? "s" : periodSeconds == 60 ? "m" : "h")
    }

    /// `N/s`, `N/m`, `N/h`; `off` or `0`: no limit (nil).
    public static func parse(_ text: String) -> Result<RequestRate?, RateProblem> {
        let t = text.lowercased()
        if t == "off" || t == "0" { return .success(nil) }
        let parts = t.split(separator: "/", omittingEmptySubsequences: false)
        let periods: [Substring: Double] = ["s": 1, "m": 60, "h": 3600]
        guard parts.count == 2, let n = Int(parts[0]), (1...10_000_000).contains(n), let period = periods[parts[1]] else {
            return .failure(RateProblem(message: "must be requests per period — 100/s, 600/m, 10000/h (1 to 10000000) — or off, not '\(text)'"))
        }
        return .success(RequestRate(count: n, periodSeconds: period))
    }

    public struct RateProblem: Error, Sendable { public let message: String }
}

/// Token buckets by client: each holds up to `rate.count` requests and refills at the rate.
/// Time is given by the caller (the middleware reads a monotonic clock; tests pass their own).
struct TokenBuckets {
    let rate: RequestRate
    private var buckets: [String: (tokens: Double, at: Double)] = [:]
    /// Clients remembered at most; beyond it, those whose bucket has refilled are forgotten
    /// (they are indistinguishable from new ones), so a flood of addresses cannot grow memory.
    let capacity: Int

    init(rate: RequestRate, capacity: Int = 100_000) {
        self.rate = rate
        self.capacity = capacity
    }

    /// Takes one request from `key`'s bucket at `now` (seconds): nil if allowed, else how many
    /// seconds until one is.
    mutating func take(_ key: String, now: Double) -> Double? {
        let full = Double(rate.count)
        var bucket = buckets[key] ?? (full, now)
        bucket.tokens = min(full, bucket.tokens + (now - bucket.at) * rate.perSecond)
        bucket.at = now
        guard bucket.tokens >= 1 else {
            buckets[key] = bucket
            return (1 - bucket.tokens) / rate.perSecond
        }
        bucket.tokens -= 1
        if buckets[key] == nil, buckets.count >= capacity { forgetRefilled(now: now) }
        buckets[key] = bucket
        return nil
    }

    var clients: Int { buckets.count }

    private mutating func forgetRefilled(now: Double) {
        let full = Double(rate.count)
        buckets = buckets.filter { $0.value.tokens + (now - $0.value.at) * rate.perSecond < full }
    }
}

/// The buckets, shared by every connection's requests.
final class RateLimiter: Sendable {
    private let buckets: Mutex<TokenBuckets>
    private let epoch = ContinuousClock.now
    let rate: RequestRate

    init(rate: RequestRate) {
        self.rate = rate
        buckets = Mutex(TokenBuckets(rate: rate))
    }

    func take(_ key: String) -> Double? {
        let elapsed = ContinuousClock.now - epoch
        let now = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return buckets.withLock { $0.take(key, now: now) }
    }
}
