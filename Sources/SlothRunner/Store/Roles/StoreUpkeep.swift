/// The store's own settings (the secret key's check, the store's identity).
package protocol StoreSettings: Sendable {
    func setting(_ key: String) async throws -> String?
    /// Stores `value` unless the key has one; returns the value stored now (either).
    func setSettingIfAbsent(_ key: String, value: String) async throws -> String
    func setSetting(_ key: String, value: String) async throws
}

/// Looking after the store itself.
package protocol StoreUpkeep: Sendable {
    /// Fails when the store can no longer be trusted to hold what it writes (its file deleted
    /// or replaced); checked by a running engine every second.
    func verifyStorage() async throws
    /// What the store occupies on disk, in bytes (for SQLite: the database and its WAL).
    func storageBytes() async throws -> Int64
    /// Closes the store without waiting (for a command about to exit; every write it made has
    /// already returned, so none is pending).
    func closeNow()
}
