import Foundation
import Testing
@testable import SlothRunner

@Suite struct CryptoModuleTests {
    @Test func knownVectors() async {
        let r = await LuaTestSupport.run("""
            local c = require("crypto")
            return { execute = function()
              return true, table.concat({
                c.sha256("abc"), c.sha512(""):sub(1, 32), c.hmac_sha256("key", "The quick brown fox jumps over the lazy dog"),
                c.base64_encode("\\0\\1\\2hello"), c.base64_decode("aGVsbG8="), c.hex("\\0\\255"),
                tostring(#c.random_bytes(32)), tostring(#c.uuid()), tostring(c.uuid() ~= c.uuid()) }, " ")
            end }
            """)
        #expect(r.success, "\(r.message ?? "")")
        #expect(r.message == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad cf83e1357eefb8bdf1542850d66d8007 f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8 AAECaGVsbG8= hello 00ff 32 36 true")
    }

    /// RFC 4231 test case 2 for HMAC-SHA-512; constant-time comparison's answers.
    @Test func hmacSHA512AndConstantTimeEquals() async {
        let r = await LuaTestSupport.run("""
            local c = require("crypto")
            return { execute = function()
              return true, table.concat({
                c.hmac_sha512("Jefe", "what do ya want for nothing?"),
                tostring(c.constant_time_equals("abc", "abc")), tostring(c.constant_time_equals("abc", "abd")),
                tostring(c.constant_time_equals("abc", "ab")), tostring(c.constant_time_equals("", "")) }, " ")
            end }
            """)
        #expect(r.message == "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737 true false false true", "\(r.message ?? "")")
    }

    @Test func encryptAndDecryptWithANamedSecret() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let store = try SQLiteEventStore(path: dir.path + "/s.db")
        let vault = SecretVault(store: store) { (_: Bool, _: Int, _: String?) throws(SlothError) in
            SecretKeyring.Key(cipher: try SecretCipher(key: Array(repeating: 3, count: 32)), origin: "test", created: false)
        }
        try await vault.set("backup_key", value: "correct horse battery staple")
        try await vault.set("other_key", value: "something else entirely")
        var request = LuaTestSupport.request("""
            local c = require("crypto")
            return { execute = function()
              local sealed = c.encrypt("backup_key", "the plan: ünïcode too")
              local again = c.encrypt("backup_key", "the plan: ünïcode too")
              local ok, wrong = pcall(c.decrypt, "other_key", sealed)
              local tampered = sealed:sub(1, 20) .. (sealed:sub(21, 21) == "A" and "B" or "A") .. sealed:sub(22)
              local ok2, changed = pcall(c.decrypt, "backup_key", tampered)
              local ok3, missing = pcall(c.encrypt, "no_such", "x")
              return true, table.concat({ c.decrypt("backup_key", sealed), tostring(sealed ~= again), tostring(sealed:find("plan") == nil),
                tostring(ok), wrong, tostring(ok2), changed, missing }, "|")
            end }
            """)
        request.secrets = vault
        var r = await LuaTestSupport.runtime.run(request)
        let parts = (r.message ?? "").split(separator: "|").map(String.init)
        #expect(parts.count == 8, "\(r.message ?? "")")
        #expect(Array(parts.prefix(4)) == ["the plan: ünïcode too", "true", "true", "false"])
        #expect(parts.dropFirst(4).first?.contains("cannot decrypt: the value was changed, or encrypted with another secret") == true)
        #expect(parts.dropFirst(5).first == "false")
        #expect(parts.dropFirst(7).first?.contains("there is no secret 'no_such'") == true)
        request.permissions = PermissionPolicy(declared: HookPermissions(grants: [.secrets: ["other_key"]]), strict: false)
        r = await LuaTestSupport.runtime.run(request)
        #expect(!r.success && r.message?.contains("may not read secret 'backup_key'") == true, "\(r.message ?? "")")
        await store.close()
    }

    @Test func badArgumentsAreLuaErrors() async {
        for call in ["c.sha256({})", "c.base64_decode('***')", "c.random_bytes(-1)", "c.random_bytes(1.5)", "c.hmac_sha512('k')", "c.constant_time_equals('a')"] {
            let r = await LuaTestSupport.run("local c = require('crypto') return { execute = function() \(call) end }")
            #expect(!r.success && r.message?.hasPrefix("crypto.") == true, "\(call): \(r.message ?? "")")
        }
    }
}

@Suite struct FileAndEnvModuleTests {
    @Test func fileOperationsRoundTrip() async {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let r = await LuaTestSupport.run("""
            local f = require("file")
            return { execute = function()
              local d = "\(dir.path)/a/b"
              f.mkdir(d)
              f.write(d .. "/x.txt", "one\\n")
              f.append(d .. "/x.txt", "two\\n")
              local st = f.stat(d .. "/x.txt")
              local listed = table.concat(f.list(d), ",")
              local text = f.read(d .. "/x.txt")
              f.remove(d .. "/x.txt")
              return true, text .. listed .. " " .. st.size .. " " .. tostring(st.is_file) .. " " .. tostring(f.exists(d .. "/x.txt"))
            end }
            """)
        #expect(r.success, "\(r.message ?? "")")
        #expect(r.message == "one\ntwo\nx.txt 8 true false")
    }

    @Test func fileFailuresAreClear() async {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let big = dir.file("big.bin", "")
        let handle = FileHandle(forWritingAtPath: big)!
        try? handle.truncate(atOffset: UInt64(FileModule.maxReadBytes + 1))
        try? handle.close()
        let cases: [(String, String)] = [
            ("f.read('\(dir.path)/missing')", "no such file"),
            ("f.read('\(dir.path)')", "is a directory"),
            ("f.read('\(big)')", "the limit is"),
            ("f.list('\(dir.path)/missing')", "not a readable directory"),
            ("f.write('/proc/nope/x', 'y')", "file.write"),
        ]
        for (call, expected) in cases {
            let r = await LuaTestSupport.run("local f = require('file') return { execute = function() \(call) end }")
            #expect(!r.success && r.message?.contains(expected) == true, "\(call): \(r.message ?? "")")
        }
    }

    @Test func envReadsAndDefaults() async {
        let r = await LuaTestSupport.run("local e = require('env') return { execute = function() return true, tostring(e.get('PATH') ~= nil) .. e.get('SLOTH_SURELY_UNSET', 'fallback') end }")
        #expect(r.message == "truefallback")
    }
}

@Suite struct PermissionTests {
    static func declared(_ grants: [HookPermissions.Capability: [String]]) -> PermissionPolicy {
        PermissionPolicy(declared: HookPermissions(grants: grants), strict: false)
    }

    @Test func declaredPermissionsAreTheOnlyOnes() async {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let allowed = dir.path + "/allowed"
        try? FileManager.default.createDirectory(atPath: allowed, withIntermediateDirectories: true)
        try? FileManager.default.createSymbolicLink(atPath: allowed + "/escape", withDestinationPath: "/etc")
        let policy = Self.declared([.file: [allowed], .env: ["PATH"]])
        let ok = await LuaTestSupport.run("local f, e = require('file'), require('env') return { execute = function() f.write('\(allowed)/x', 'y') return true, tostring(e.get('PATH') ~= nil) end }", permissions: policy)
        #expect(ok.success && ok.message == "true", "\(ok.message ?? "")")
        let denials = [
            ("require('file').read('/etc/hostname')", "may not access path '/etc/hostname'"),
            ("require('file').read('\(allowed)/escape/hostname')", "may not access path '/etc/hostname'"),
            ("require('file').write('\(allowed)/../outside', 'x')", "may not access path"),
            ("require('env').get('HOME')", "may not read environment variable 'HOME'"),
        ]
        for (call, expected) in denials {
            let r = await LuaTestSupport.run("return { execute = function() \(call) end }", permissions: policy)
            #expect(!r.success && r.message?.contains(expected) == true, "\(call): \(r.message ?? "")")
            #expect(r.message?.contains("permissions.") == true, "the denial names the missing permission")
        }
    }

    @Test func engineWideEnvironmentAllowlist() async {
        let policy = PermissionPolicy(declared: nil, strict: false, environment: ["PATH"])
        let ok = await LuaTestSupport.run("return { execute = function() return true, tostring(require('env').get('PATH') ~= nil) end }", permissions: policy)
        #expect(ok.message == "true")
        let denied = await LuaTestSupport.run("return { execute = function() return require('env').get('HOME') end }", permissions: policy)
        #expect(!denied.success && denied.message?.contains("serve --hook-env") == true, "\(denied.message ?? "")")
    }

    @Test func strictModeDeniesUndeclared() async {
        let strict = PermissionPolicy(declared: nil, strict: true)
        let r = await LuaTestSupport.run("return { execute = function() return require('env').get('PATH') end }", permissions: strict)
        #expect(!r.success && r.message?.contains("strict permissions are on") == true)
        let open = await LuaTestSupport.run("return { execute = function() return true, tostring(require('env').get('PATH') ~= nil) end }")
        #expect(open.message == "true")
    }

    @Test func hookFilesDeclarePermissions() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let path = dir.file("p.lua", """
            return { name = "p", event_type = "custom.p", permissions = { http = { "hooks.slack.com" }, env = {} },
                     execute = function() return true end }
            """)
        let loaded = try await HookLoader.load(path: path, overrides: HookOverrides(), runtime: LuaTestSupport.runtime)
        #expect(loaded.hook.permissions == HookPermissions(grants: [.http: ["hooks.slack.com"], .env: []]))
        #expect(loaded.hook.permissions?.allows(.http, "hooks.slack.com") == true)
        #expect(loaded.hook.permissions?.allows(.http, "evil.com") == false)
        let bad = dir.file("b.lua", "return { name = 'b', event_type = 'x.y', permissions = { network = {'x'} }, execute = function() end }")
        await #expect(throws: SlothError.self) { try await HookLoader.load(path: bad, overrides: HookOverrides(), runtime: LuaTestSupport.runtime) }
        // Stored and read back with the hook.
        let store = try SQLiteEventStore(path: dir.path + "/s.db")
        try await store.addHook(loaded.hook)
        #expect(try await store.hook(named: "p")?.permissions == loaded.hook.permissions)
        await store.close()
    }
}

@Suite struct YAMLAndTemplateModuleTests {
    @Test func yamlRoundTrip() async {
        let r = await LuaTestSupport.run("""
            local yaml, json = require("yaml"), require("json")
            return { execute = function()
              local d = yaml.decode("name: web\\nreplicas: 3\\nratio: 0.5\\nports: [80, 443]\\nenabled: true\\n")
              local back = yaml.decode(yaml.encode(d))
              return true, json.encode(back) .. " " .. math.type(back.replicas)
            end }
            """)
        #expect(r.message == #"{"enabled":true,"name":"web","ports":[80,443],"ratio":0.5,"replicas":3} integer"#, "\(r.message ?? "")")
    }

    @Test func malformedYAMLIsAClearError() async {
        let r = await LuaTestSupport.run("return { execute = function() require('yaml').decode('a: [1, 2') end }")
        #expect(!r.success && r.message?.contains("yaml.decode:") == true && r.message?.contains("line 1") == true, "\(r.message ?? "")")
    }

    @Test func mustacheRendering() async {
        let r = await LuaTestSupport.run("""
            return { execute = function()
              return true, require("template").render("Hi {{name}}: {{#items}}[{{.}}]{{/items}}{{^none}}!{{/none}} {{{raw}}} {{esc}} {{a.b}}",
                { name = "ops", items = { 1, 2 }, raw = "<b>", esc = "<i>", a = { b = "deep" } })
            end }
            """)
        #expect(r.message == "Hi ops: [1][2]! <b> &lt;i&gt; deep", "\(r.message ?? "")")
        let bad = await LuaTestSupport.run("return { execute = function() require('template').render('{{#open}}') end }")
        #expect(!bad.success && bad.message?.contains("invalid template at line 1") == true, "\(bad.message ?? "")")
    }
}
