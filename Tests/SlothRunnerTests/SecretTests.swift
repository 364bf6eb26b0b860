import Foundation
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
        let first = try SecretKeyring.cipher(databasePath: db, environment: [:])
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.path + "/secret.key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let second = try SecretKeyring.cipher(databasePath: db, environment: [:])
        let sealed = try first.seal(Array("v".utf8), name: "n")
        #expect(try second.open(sealed, name: "n") == Array("v".utf8))
        let fromEnv = try SecretKeyring.cipher(databasePath: db, environment: ["SLOTH_RUNNER_SECRET_KEY": String(repeating: "ab", count: 32)])
        #expect(throws: SlothError.self) { try fromEnv.open(sealed, name: "n") }
        #expect(throws: SlothError.self) { try SecretKeyring.cipher(databasePath: db, environment: ["SLOTH_RUNNER_SECRET_KEY": "short"]) }
    }

    @Test func hooksReadSecretsWithinTheirPermissions() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let store = try SQLiteEventStore(path: dir.path + "/s.db")
        let vault = SecretVault(store: store) { () throws(SlothError) in try SecretCipher(key: Array(repeating: 1, count: 32)) }
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
}
