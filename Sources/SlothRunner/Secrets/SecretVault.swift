import Foundation
import Synchronization

/// Secrets as hooks and the CLI see them: sealed in the store, opened with the keyring's key.
public final class SecretVault: Sendable {
    public let store: any EventStore
    private let keyring: @Sendable () throws(SlothError) -> SecretCipher
    private let cipher = Mutex<SecretCipher?>(nil)
    public static let maxValueBytes = 64 * 1024

    /// The key is loaded (or the key file created) on first use, not before.
    public init(store: any EventStore, keyring: @escaping @Sendable () throws(SlothError) -> SecretCipher) {
        self.store = store
        self.keyring = keyring
    }

    public convenience init(store: any EventStore, databasePath: String) {
        self.init(store: store) { () throws(SlothError) in try SecretKeyring.cipher(databasePath: databasePath) }
    }

    func key() throws(SlothError) -> SecretCipher {
        if let c = cipher.withLock({ $0 }) { return c }
        let c = try keyring()
        cipher.withLock { $0 = c }
        return c
    }

    public static func validateName(_ name: String) throws(SlothError) {
        guard !name.isEmpty, name.utf8.count <= 128,
            name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E })
        else { throw .invalidInput("secret name '\(name)' must be 1-128 characters of letters, digits, '_', '-' or '.'") }
    }

    public func set(_ name: String, value: String) async throws {
        try Self.validateName(name)
        guard !value.isEmpty else { throw SlothError.invalidInput("a secret value cannot be empty") }
        guard value.utf8.count <= Self.maxValueBytes else { throw SlothError.invalidInput("a secret value is at most \(Self.maxValueBytes) bytes") }
        try await store.secretPut(name: name, sealed: try key().seal(Array(value.utf8), name: name), now: nowMillis())
    }

    public func get(_ name: String) async throws -> String? {
        guard let sealed = try await store.secretGet(name: name) else { return nil }
        return String(decoding: try key().open(sealed, name: name), as: UTF8.self)
    }
}

/// Replaces every occurrence of revealed secret values with `***`. Values shorter than four
/// characters are left alone: masking them would mangle unrelated text.
enum Redactor {
    static func redact(_ text: String, _ secrets: [String]) -> String {
        if secrets.isEmpty { return text }
        var out = text
        for s in secrets.sorted(by: { $0.count > $1.count }) where s.count >= 4 {
            out = out.replacingOccurrences(of: s, with: "***")
        }
        return out
    }
}
