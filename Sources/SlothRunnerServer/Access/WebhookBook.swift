import Synchronization
import SlothRunner

/// The declared webhooks and their opened keys, held in memory and reloaded from the store
/// every tick (100 ms): a delivery is verified without two trips to the store and a decryption
/// (that was a third of a delivery's cost). A key is opened again only when its sealed value
/// changed (`secret set` rotated it). Webhooks and secrets are changed by the CLI, another
/// process, so a change counts within one tick.
final class WebhookBook: Sendable {
    struct Entry: Sendable {
        let webhook: Webhook
        /// The opened key, nil when the webhook needs none or its secret is not set.
        let key: String?
    }
    private struct State {
        var entries: [String: Entry]?
        var opened: [String: (sealed: SecretCipher.Sealed, value: String)] = [:]
    }
    private let state = Mutex(State())
    private let driver: any WebhookStore & SealedSecretStore
    private let vault: SecretVault?
    let tickMillis: Int64

    init(driver: any WebhookStore & SealedSecretStore, vault: SecretVault?, tickMillis: Int64 = 100) {
        self.driver = driver
        self.vault = vault
        self.tickMillis = tickMillis
    }

    func entry(named name: String) async throws -> Entry? {
        if let entries = state.withLock({ $0.entries }) { return entries[name] }
        return try await reload()[name]
    }

    @discardableResult
    func reload() async throws -> [String: Entry] {
        let webhooks = try await driver.webhookList()
        let known = state.withLock { $0.opened }
        var opened: [String: (sealed: SecretCipher.Sealed, value: String)] = [:]
        var entries: [String: Entry] = [:]
        for webhook in webhooks {
            var key: String?
            if let secret = webhook.secret, let vault {
                if let done = opened[secret] {
                    key = done.value
                } else if let sealed = try await driver.secretGet(name: secret) {
                    var value = known[secret].flatMap { $0.sealed == sealed ? $0.value : nil }
                    if value == nil { value = try await vault.get(secret) }
                    if let value {
                        opened[secret] = (sealed, value)
                        key = value
                    }
                }
            }
            entries[webhook.name] = Entry(webhook: webhook, key: key)
        }
        state.withLock {
            $0.entries = entries
            $0.opened = opened
        }
        return entries
    }

    /// Reloads every tick until cancelled; a failed reload keeps what was known.
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
