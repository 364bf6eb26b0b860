import Foundation
import Synchronization

/// Secrets as hooks and the CLI see them: sealed in the store, opened with the keyring's key.
///
/// The store remembers which key sealed its secrets (a key check value, `SecretCipher.checkValue`):
/// a different key, or a key file gone missing, is an error that says what happened and how to
/// recover — never a new key that silently makes the old secrets unreadable, or two keys mixed
/// in one store.
public final class SecretVault: SecretReading {
    package let store: any SealedSecretStore & StoreSettings
    /// Loads the key: (may create a key file, secrets sealed so far, their key check).
    private let keyring: @Sendable (Bool, Int, String?) throws(SlothError) -> SecretKeyring.Key
    private let cipher = Mutex<SecretCipher?>(nil)
    /// The largest value a secret may hold.
    public static let maxValueBytes = 64 * 1024
    package static let keyCheckSetting = "secret_key_check"

    package init(store: any SealedSecretStore & StoreSettings, keyring: @escaping @Sendable (Bool, Int, String?) throws(SlothError) -> SecretKeyring.Key) {
        self.store = store
        self.keyring = keyring
    }

    /// The key comes from `SLOTH_RUNNER_SECRET_KEY` or `secret.key` beside the database; it is
    /// loaded (or the key file created) on first use, not before.
    public convenience init(store: SQLiteEventStore, databasePath: String) {
        self.init(driver: store, databasePath: databasePath)
    }

    /// The same, on any store of the package.
    package convenience init(driver store: any SealedSecretStore & StoreSettings, databasePath: String) {
        self.init(store: store) { (mayCreate: Bool, sealed: Int, check: String?) throws(SlothError) in
            try SecretKeyring.load(databasePath: databasePath, mayCreate: mayCreate, sealedSecrets: sealed, keyCheck: check)
        }
    }

    /// The key, checked against the one that sealed the store's secrets.
    func key() async throws -> SecretCipher {
        if let c = cipher.withLock({ $0 }) { return c }
        let stored = try await store.setting(Self.keyCheckSetting)
        let sealed = try await store.secretList()
        // With nothing sealed, any key (a new one included) is fine.
        let key = try keyring(sealed.isEmpty, sealed.count, stored)
        let check = key.cipher.checkValue
        if !sealed.isEmpty {
            if let stored {
                guard stored == check else { throw Self.mismatch(key, check: check, stored: stored, count: sealed.count) }
            } else {
                // Sealed before the store kept a key check: the key must open them.
                guard let first = sealed.first, let box = try await store.secretGet(name: first.name),
                    (try? key.cipher.open(box, name: first.name)) != nil
                else { throw Self.mismatch(key, check: check, stored: "not recorded", count: sealed.count) }
                try await store.setSetting(Self.keyCheckSetting, value: check)
            }
        }
        cipher.withLock { $0 = key.cipher }
        return key.cipher
    }

    static func mismatch(_ key: SecretKeyring.Key, check: String, stored: String, count: Int) -> SlothError {
        let other = key.origin == "SLOTH_RUNNER_SECRET_KEY"
            ? "unset SLOTH_RUNNER_SECRET_KEY to use the key file beside the database, or set it to the key that sealed them"
            : "set SLOTH_RUNNER_SECRET_KEY to the key that sealed them, or restore the key file \(key.origin) from a backup"
        return .invalidInput(
            "the secret key from \(key.origin) (key check \(check)) is not the key that sealed this database's \(count) secret\(count == 1 ? "" : "s") (key check \(stored)): \(other). "
                + "If that key is lost, `sloth-runner secret reset --yes` deletes the secrets that can no longer be opened.")
    }

    package static func validateName(_ name: String) throws(SlothError) {
        guard !name.isEmpty, name.utf8.count <= 128,
            name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E })
        else { throw .invalidInput("secret name '\(name)' must be 1-128 characters of letters, digits, '_', '-' or '.'") }
    }

    /// Seals `value` and stores it under `name` (replacing any); the first secret creates the key file if there is none.
    public func set(_ name: String, value: String) async throws {
        try Self.validateName(name)
        guard !value.isEmpty else { throw SlothError.invalidInput("a secret value cannot be empty") }
        guard value.utf8.count <= Self.maxValueBytes else { throw SlothError.invalidInput("a secret value is at most \(Self.maxValueBytes) bytes") }
        let c = try await key()
        // The first secret sealed records which key sealed it; a key that lost a race to another
        // process sealing with a different key is refused here.
        let check = c.checkValue
        let recorded = try await store.setSettingIfAbsent(Self.keyCheckSetting, value: check)
        if recorded != check {
            let count = try await store.secretList().count
            if count == 0 {
                try await store.setSetting(Self.keyCheckSetting, value: check)
            } else {
                throw Self.mismatch(SecretKeyring.Key(cipher: c, origin: "the key in use", created: false), check: check, stored: recorded, count: count)
            }
        }
        try await store.secretPut(name: name, sealed: try c.seal(Array(value.utf8), name: name), now: nowMillis())
    }

    /// The opened value of a secret, or nil; a wrong or missing key is an error that says how to recover.
    public func get(_ name: String) async throws -> String? {
        guard let sealed = try await store.secretGet(name: name) else { return nil }
        return String(decoding: try await key().open(sealed, name: name), as: UTF8.self)
    }
}

/// Where a run's `secret.get` reads: the vault, or a test case's mocks.
public protocol SecretReading: Sendable {
    /// The opened value of a secret, or nil when there is none.
    func get(_ name: String) async throws -> String?
}
