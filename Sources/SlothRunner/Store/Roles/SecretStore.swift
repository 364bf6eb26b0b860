/// Stored secrets as an embedding program sees them: names and dates, never values (those are
/// set and read through `SecretVault`, sealed).
public protocol SecretStore: Sendable {
    /// Names and dates of the stored secrets; never values.
    func secretList() async throws -> [SecretInfo]
    /// Deletes a secret; true if it was there.
    func secretDelete(name: String) async throws -> Bool
}

/// The sealed values behind `SecretStore`, which only `SecretVault` opens.
package protocol SealedSecretStore: SecretStore {
    func secretPut(name: String, sealed: SecretCipher.Sealed, now: Millis) async throws
    func secretGet(name: String) async throws -> SecretCipher.Sealed?
    /// Deletes every secret and the key check (`secret reset`); returns how many were deleted.
    func secretDeleteAll() async throws -> Int
}

/// API tokens, kept as their hashes only.
package protocol TokenStore: Sendable {
    /// Stores a token; a name already taken is `SlothError.conflict`.
    func tokenCreate(_ token: APIToken, hash: String) async throws
    func tokenList() async throws -> [APIToken]
    /// Marks a token revoked; false if there is no such (unrevoked) token.
    func tokenRevoke(name: String, now: Millis) async throws -> Bool
    /// Every live token by its hash: what the server checks requests against, reloaded on a
    /// short tick rather than read per request.
    func liveTokens() async throws -> [String: APIToken]
    /// Whether any unrevoked token exists (without one, the API is open on loopback).
    func hasLiveTokens() async throws -> Bool
}
