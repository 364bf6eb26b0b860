import Synchronization
import SlothRunner

/// The live API tokens, by hash, held in memory and reloaded from the store every tick: a
/// request is checked without a trip to the store (that trip was a third of a dispatch's cost
/// over HTTP). Tokens are created and revoked by the CLI, another process, so the store is the
/// only place to learn of them; a change counts within one tick (100 ms).
final class TokenBook: Sendable {
    private let tokens = Mutex<[String: APIToken]?>(nil)
    private let driver: any TokenStore
    let tickMillis: Int64

    init(driver: any TokenStore, tickMillis: Int64 = 100) {
        self.driver = driver
        self.tickMillis = tickMillis
    }

    /// The live tokens, loaded on first use if the refresher has not run yet.
    func current() async throws -> [String: APIToken] {
        if let known = tokens.withLock({ $0 }) { return known }
        return try await reload()
    }

    @discardableResult
    func reload() async throws -> [String: APIToken] {
        let fresh = try await driver.liveTokens()
        tokens.withLock { $0 = fresh }
        return fresh
    }

    /// Reloads every tick until cancelled. A failed reload keeps the last known tokens (a
    /// store hiccup must not open the API, nor lock everyone out).
    /// `storeMayHaveChanged` (the engine's `storeRecentlyWritten`) lets a quiet store be
    /// read once a second instead of every tick: a change by another process is a write, which
    /// makes the next tick reload.
    func refreshUntilCancelled(storeMayHaveChanged: @escaping @Sendable () -> Bool = { true }) async {
        var lastReload = ContinuousClock.now
        while !Task.isCancelled {
            if storeMayHaveChanged() || ContinuousClock.now - lastReload >= .seconds(1) {
                _ = try? await reload()
                lastReload = ContinuousClock.now
            }
            try? await Task.sleep(nanoseconds: UInt64(tickMillis) * 1_000_000)
        }
    }
}
