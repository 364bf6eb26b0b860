/// Inbound webhooks (`POST /webhooks/NAME`) and their verification settings.
package protocol WebhookStore: Sendable {
    /// Stores a webhook; a name already taken is `SlothError.conflict`.
    func webhookAdd(_ webhook: Webhook) async throws
    func webhook(named name: String) async throws -> Webhook?
    func webhookList() async throws -> [Webhook]
    /// Removes a webhook; false if there was none.
    func webhookRemove(name: String) async throws -> Bool
    /// Makes the store's webhooks match those a config file declares, in one transaction:
    /// adds and changes them (one added with `webhook add` under the same name is taken over),
    /// removes the ones declared before and no longer. Returns the names by what happened.
    func webhookSync(declared: [Webhook]) async throws -> (added: [String], changed: [String], removed: [String])
}
