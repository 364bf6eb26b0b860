import Foundation
import Synchronization
import Testing
@testable import SlothRunner

@Suite struct SecretTests {
    @Test func sealOpenAndTamperDetection() throws {
        let key = try SecretCipher(key: Array(repeating: 7, count: 32))
        let sealed = try key.seal(Array("hunter22".utf8), name: "db")
        #expect(String(decoding: try key.open(sealed, name: "db"), as: UTF8.self) == "hunter22")
        #expect(throws: SlothError.self) { try key.open(sealed, name: "other") }
        let wrong = try SecretCipher(key: Array(repeating: 8, count: 32))
        #expect(throws: SlothError.self) { try wrong.open(sealed, name: "db") }
        var flipped = sealed
        flipped.ciphertext[0] ^= 1
        #expect(throws: SlothError.self) { try key.open(flipped, name: "db") }
        #expect(try key.seal(Array("x".utf8), name: "a").nonce != key.seal(Array("x".utf8), name: "a").nonce)
    }

    @Test func keyFileIsCreatedPrivateAndReused() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let db = dir.path + "/sloth.db"
        let first = try SecretKeyring.load(databasePath: db, mayCreate: true, sealedSecrets: 0, keyCheck: nil, environment: [:])
        #expect(first.created)
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.path + "/secret.key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let second = try SecretKeyring.load(databasePath: db, mayCreate: false, sealedSecrets: 1, keyCheck: nil, environment: [:])
        #expect(!second.created && second.cipher.checkValue == first.cipher.checkValue)
        let sealed = try first.cipher.seal(Array("v".utf8), name: "n")
        #expect(try second.cipher.open(sealed, name: "n") == Array("v".utf8))
        let fromEnv = try SecretKeyring.load(databasePath: db, mayCreate: false, sealedSecrets: 1, keyCheck: nil, environment: ["SLOTH_RUNNER_SECRET_KEY": String(repeating: "ab", count: 32)])
        #expect(fromEnv.cipher.checkValue != first.cipher.checkValue)
        #expect(throws: SlothError.self) { try fromEnv.cipher.open(sealed, name: "n") }
        #expect(throws: SlothError.self) { try SecretKeyring.load(databasePath: db, mayCreate: true, sealedSecrets: 0, keyCheck: nil, environment: ["SLOTH_RUNNER_SECRET_KEY": "short"]) }
        // With secrets sealed, a missing key file is an error, never a new key.
        try FileManager.default.removeItem(atPath: dir.path + "/secret.key")
        #expect(throws: SlothError.self) { try SecretKeyring.load(databasePath: db, mayCreate: false, sealedSecrets: 2, keyCheck: "abc", environment: [:]) }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/secret.key"))
    }

    @Test func theStoreRemembersWhichKeySealedIt() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let db = dir.path + "/sloth.db"
        let store = try SQLiteEventStore(path: db)
        defer { store.closeNow() }
        try await SecretVault(store: store, databasePath: db).set("db_password", value: "hunter2-secret")
        #expect(try await store.setting(SecretVault.keyCheckSetting)?.count == 16)
        // Another key in the environment: refused (reading and sealing), naming both checks.
        let otherKey = String(repeating: "cd", count: 32)
        let other = SecretVault(store: store) { (mayCreate: Bool, sealed: Int, check: String?) throws(SlothError) in
            try SecretKeyring.load(databasePath: db, mayCreate: mayCreate, sealedSecrets: sealed, keyCheck: check, environment: ["SLOTH_RUNNER_SECRET_KEY": otherKey])
        }
        await #expect { try await other.set("second", value: "value-2") } throws: { e in
            "\(e)".contains("is not the key that sealed this database's 1 secret") && "\(e)".contains("secret reset --yes")
        }
        await #expect(throws: SlothError.self) { try await other.get("db_password") }
        #expect(try await store.secretList().map(\.name) == ["db_password"], "nothing was sealed with the other key")
        // The key file goes missing: an error that says how to recover, no new key file.
        try FileManager.default.removeItem(atPath: dir.path + "/secret.key")
        await #expect { try await SecretVault(store: store, databasePath: db).get("db_password") } throws: { e in
            "\(e)".contains("secret.key is missing") && "\(e)".contains("Restore")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/secret.key"))
        // Giving up on the lost key: reset, then a new key seals new secrets.
        #expect(try await store.secretDeleteAll() == 1)
        try await SecretVault(store: store, databasePath: db).set("fresh", value: "new-value-1")
        #expect(try await SecretVault(store: store, databasePath: db).get("fresh") == "new-value-1")
    }

    @Test func secretsSealedBeforeKeyChecksStillOpen() async throws {
        // A database written by the previous release: secrets sealed, no key check recorded.
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let db = dir.path + "/sloth.db"
        let store = try SQLiteEventStore(path: db)
        defer { store.closeNow() }
        let key = try SecretKeyring.load(databasePath: db, mayCreate: true, sealedSecrets: 0, keyCheck: nil, environment: [:])
        try await store.secretPut(name: "legacy", sealed: try key.cipher.seal(Array("legacy-value".utf8), name: "legacy"), now: nowMillis())
        #expect(try await store.setting(SecretVault.keyCheckSetting) == nil)
        #expect(try await SecretVault(store: store, databasePath: db).get("legacy") == "legacy-value")
        #expect(try await store.setting(SecretVault.keyCheckSetting) == key.cipher.checkValue, "the check is recorded once the key opened them")
    }

    /// A database and key file written by the release before swift-crypto (its OpenSSL EVP
    /// code): the secrets in it open, and the key check matches.
    @Test func secretsSealedByTheOpenSSLReleaseStillOpen() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("sealed-secrets.sqlite3"), to: URL(fileURLWithPath: dir.path + "/sloth.db"))
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("sealed-secrets.key"), to: URL(fileURLWithPath: dir.path + "/secret.key"))
        let store = try SQLiteEventStore(path: dir.path + "/sloth.db")
        let vault = SecretVault(store: store, databasePath: dir.path + "/sloth.db")
        #expect(try await vault.get("api_token") == "tok_9f8e7d6c5b4a")
        #expect(try await vault.get("db_password")?.hasPrefix("hunter2-ünïcode") == true)
        // Sealing with the new code and opening again works against the same key check.
        try await vault.set("new_one", value: "sealed-by-swift-crypto")
        #expect(try await vault.get("new_one") == "sealed-by-swift-crypto")
        await store.close()
    }

    @Test func everyCommonFormOfASecretIsMasked() {
        let secret = "hunter2-SuperSecret!"
        let mask = SecretMask([("pw", secret)])
        let base64 = Data(secret.utf8).base64EncodedString()
        let hex = secret.utf8.map { String(format: "%02x", $0) }.joined()
        let forms = [
            secret, secret.uppercased(), secret.lowercased(), base64, base64.replacingOccurrences(of: "=", with: ""),
            base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"), hex, hex.uppercased(),
            secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!,
            "Basic " + Data("admin:\(secret)".utf8).base64EncodedString(),
            Data("x\(secret)y".utf8).base64EncodedString(), Data("xy\(secret)".utf8).base64EncodedString(),
        ]
        for form in forms {
            let text = "before \(form) after"
            let masked = mask.masked(text)
            #expect(masked.contains("***") && !masked.contains(form), "\(form) was not masked: \(masked)")
            #expect(masked.hasPrefix("before ") && masked.hasSuffix(" after") || form.hasPrefix("Basic"), "\(masked)")
        }
        #expect(mask.masked("nothing here") == "nothing here")
        #expect(SecretMask([("tiny", "abc")]).masked("abc abc") == "abc abc", "values under 4 bytes are left alone")
    }

    @Test func aSecretAcrossTheOutputLimitIsNotStoredInPart() {
        let secret = "hunter2-SuperSecretValue"
        let mask = SecretMask([("pw", secret)])
        // The limit falls inside the secret, 1, 5 or all but one byte into it.
        for into in [1, 5, secret.utf8.count - 1] {
            var buffer = OutputBuffer(limit: 100)
            buffer.append(String(repeating: "a", count: 100 - into) + secret + String(repeating: " and more", count: 20))
            let final = buffer.final(mask: mask)
            #expect(!final.contains("hunt") && !final.contains("Secret"), "\(into) bytes in: \(final)")
            #expect(final.contains("[output truncated"), "\(final)")
        }
        // The raw capture itself cut inside a secret (a hook printing past the margin).
        var long = OutputBuffer(limit: 10)
        long.append(String(repeating: "b", count: OutputBuffer.maskMargin + 10 - 7) + secret)
        #expect(!long.final(mask: mask).contains("hunter"), "\(long.final(mask: mask).suffix(40))")
        // Masked as a whole before the cut: earlier masking shrinks the text, and a secret that
        // only then moves inside the limit is masked too.
        var buffer = OutputBuffer(limit: 60)
        for _ in 0..<4 { buffer.append(secret) }
        let final = buffer.final(mask: mask)
        #expect(final == "***\n***\n***\n***\n", "\(final)")
        let message = ExecutorLimitsForTests.bounded(String(repeating: "x", count: 4090) + secret + "tail", mask: mask)
        #expect(!message.contains("hunt") && message.contains("more bytes]"), "\(message.suffix(40))")
    }

    @Test func hooksReadSecretsWithinTheirPermissions() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let store = try SQLiteEventStore(path: dir.path + "/s.db")
        let vault = SecretVault(store: store) { (_: Bool, _: Int, _: String?) throws(SlothError) in
            SecretKeyring.Key(cipher: try SecretCipher(key: Array(repeating: 1, count: 32)), origin: "test", created: false)
        }
        try await vault.set("api_token", value: "tok-123456")
        var request = LuaTestSupport.request("""
            local secret = require("secret")
            return { execute = function()
              local t = secret.get("api_token")
              print("token is " .. t)
              return true, tostring(secret.get("missing")) .. " " .. t
            end }
            """)
        request.secrets = vault
        var r = await LuaTestSupport.runtime.run(request)
        #expect(r.success && r.message == "nil ***" && r.output == "token is ***\n", "\(r.message ?? "") \(r.output)")
        request.permissions = PermissionPolicy(declared: HookPermissions(grants: [.secrets: ["other"]]), strict: false)
        r = await LuaTestSupport.runtime.run(request)
        #expect(!r.success && r.message?.contains("may not read secret 'api_token'") == true, "\(r.message ?? "")")
        await store.close()
    }

    @Test func aSecretsValueIsNotStoredInEventsOrState() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let store = try SQLiteEventStore(path: dir.path + "/s.db")
        defer { store.closeNow() }
        let vault = SecretVault(store: store) { (_: Bool, _: Int, _: String?) throws(SlothError) in
            SecretKeyring.Key(cipher: try SecretCipher(key: Array(repeating: 2, count: 32)), origin: "test", created: false)
        }
        try await vault.set("slack_url", value: "https://hooks.example/T0/B0/XYZSECRET")
        let dispatched = Mutex<[NewEvent]>([])
        for (call, what) in [
            ("require('event').dispatch('custom.leak', { url = s })", "the event data (at url)"),
            ("require('event').dispatch('custom.leak', { nested = { require('crypto').base64_encode(s) } })", "the event data (at nested.1)"),
            ("require('state').set('webhook', s)", "state"),
            ("require('state').set(s, 1)", "state"),
            ("require('state').compare_and_set('k', nil, { v = string.upper(s) })", "state"),
        ] {
            var request = LuaTestSupport.request("""
                return { execute = function()
                  local s = require("secret").get("slack_url")
                  \(call)
                end }
                """)
            request.secrets = vault
            request.state = MemoryState()
            request.dispatcher = { e in dispatched.withLock { $0.append(e) }; return .success("id") }
            let r = await LuaTestSupport.runtime.run(request)
            #expect(!r.success && r.message?.contains("refusing to store the value of secret 'slack_url' in \(what)") == true, "\(call): \(r.message ?? "")")
        }
        #expect(dispatched.withLock { $0.isEmpty }, "an event with the secret reached the dispatcher")
    }
}

/// The executor's message bounding, reachable from tests.
enum ExecutorLimitsForTests {
    static func bounded(_ message: String, mask: SecretMask) -> String { LuaRunMessages.bounded(message, mask: mask) }
}
