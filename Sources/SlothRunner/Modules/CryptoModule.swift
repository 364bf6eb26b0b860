import CLua
import CLuaShim
import Crypto
import Foundation

/// `crypto`: hashes, HMAC, encodings, randomness, and encryption with a named secret as key,
/// on swift-crypto. Strings are byte strings: hashing a binary value works, and digests come
/// back as lowercase hex.
enum CryptoModule {
    /// Hashing and encoding are linear, so an input cap bounds each call's time (64 MiB hashes
    /// in well under a second); larger inputs are refused rather than left to run past the
    /// hook's timeout inside one call.
    static let maxInputBytes = 64 << 20

    static func input(_ L: OpaquePointer, _ idx: Int32) -> [UInt8]? {
        if lua_type(L, idx) == LUA_TSTRING {
            var len = 0
            _ = sb_tostring(L, idx, &len)
            guard len <= maxInputBytes else { return nil }
            return LuaValues.bytes(at: idx, on: L)
        }
        if lua_type(L, idx) == LUA_TNUMBER { return Array(LuaValues.errorText(at: idx, on: L).utf8) }
        return nil
    }

    /// Why `input` refused the argument at `idx`.
    static func refusal(_ L: OpaquePointer, _ idx: Int32, _ fn: String, _ expected: String = "a string") -> Int32 {
        var len = 0
        if lua_type(L, idx) == LUA_TSTRING, sb_tostring(L, idx, &len) != nil, len > maxInputBytes {
            return HostFunctions.fail(L, "\(fn): the input is \(len) bytes; the limit is \(maxInputBytes)")
        }
        return HostFunctions.fail(L, "\(fn): expected \(expected)")
    }

    static let sha256: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let data = input(L, 1) else { return refusal(L, 1, "crypto.sha256") }
        LuaValues.pushString(Hex.encode(SHA256.hash(data: data)), on: L)
        return 1
    }

    static let sha512: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let data = input(L, 1) else { return refusal(L, 1, "crypto.sha512") }
        LuaValues.pushString(Hex.encode(SHA512.hash(data: data)), on: L)
        return 1
    }

    static let hmacSHA256: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        return hmac(L, "crypto.hmac_sha256", SHA256.self)
    }

    static let hmacSHA512: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        return hmac(L, "crypto.hmac_sha512", SHA512.self)
    }

    private static func hmac<H: HashFunction>(_ L: OpaquePointer, _ fn: String, _: H.Type) -> Int32 {
        guard let key = input(L, 1) else { return refusal(L, 1, fn, "(key, message) strings") }
        guard let message = input(L, 2) else { return refusal(L, 2, fn, "(key, message) strings") }
        LuaValues.pushString(Hex.encode(HMAC<H>.authenticationCode(for: message, using: SymmetricKey(data: key))), on: L)
        return 1
    }

    /// `crypto.constant_time_equals(a, b)`: for comparing a signature a webhook sent with the
    /// one computed (`==` stops at the first differing byte, which leaks how much is right).
    static let constantTimeEquals: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let a = input(L, 1) else { return refusal(L, 1, "crypto.constant_time_equals", "two strings") }
        guard let b = input(L, 2) else { return refusal(L, 2, "crypto.constant_time_equals", "two strings") }
        lua_pushboolean(L, ConstantTime.equal(a, b) ? 1 : 0)
        return 1
    }

    static let base64Encode: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let data = input(L, 1) else { return refusal(L, 1, "crypto.base64_encode") }
        LuaValues.pushString(Data(data).base64EncodedString(), on: L)
        return 1
    }

    static let base64Decode: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let raw = input(L, 1) else { return refusal(L, 1, "crypto.base64_decode") }
        let text = String(decoding: raw, as: UTF8.self)
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines), options: .ignoreUnknownCharacters) else {
            return HostFunctions.fail(L, "crypto.base64_decode: not valid base64")
        }
        LuaValues.pushBytes(data, on: L)
        return 1
    }

    static let hex: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let data = input(L, 1) else { return refusal(L, 1, "crypto.hex") }
        LuaValues.pushString(Hex.encode(data), on: L)
        return 1
    }

    static let maxRandomBytes = 1 << 20

    static let randomBytes: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard lua_type(L, 1) == LUA_TNUMBER, sb_isinteger(L, 1) != 0 else { return HostFunctions.fail(L, "crypto.random_bytes: expected a whole number of bytes") }
        let n = Int(lua_tointegerx(L, 1, nil))
        guard (0...maxRandomBytes).contains(n) else { return HostFunctions.fail(L, "crypto.random_bytes: count must be from 0 to \(maxRandomBytes)") }
        LuaValues.pushBytes(SecureRandom.bytes(n), on: L)
        return 1
    }

    static let uuid: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        LuaValues.pushString(UUID().uuidString.lowercased(), on: L)
        return 1
    }

    /// `crypto.encrypt(secret_name, plaintext)` → base64 text; `crypto.decrypt(secret_name,
    /// ciphertext)` → the plaintext. AES-256-GCM with a key derived (HKDF-SHA256) from the named
    /// secret's value, so the secret itself never enters the hook; needs the `secrets`
    /// permission for that name, as `secret.get` does.
    static let encrypt: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        return withSecretKey(L, ctx, "crypto.encrypt") { (key, name, data) throws(ModuleError) in
            try SecretBoundCipher.encrypt(data, key: key, secretName: name)
        }
    }

    static let decrypt: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        return withSecretKey(L, ctx, "crypto.decrypt") { (key, name, data) throws(ModuleError) in
            try SecretBoundCipher.decrypt(String(decoding: data, as: UTF8.self), key: key, secretName: name)
        }
    }

    private static func withSecretKey(
        _ L: OpaquePointer, _ ctx: UnsafeMutableRawPointer?, _ fn: String,
        _ work: @escaping @Sendable (SymmetricKey, String, [UInt8]) throws(ModuleError) -> String
    ) -> Int32 {
        guard let run = HostFunctions.context(ctx).run else { return HostFunctions.fail(L, "\(fn): cannot be called while the hook file loads") }
        guard let vault = run.request.secrets else { return HostFunctions.fail(L, "\(fn): secrets are not available here") }
        guard let name = LuaValues.string(at: 1, on: L), !name.isEmpty else { return HostFunctions.fail(L, "\(fn): expected (secret_name, text)") }
        guard let data = input(L, 2) else { return refusal(L, 2, fn, "(secret_name, text)") }
        if let denied = HostFunctions.policy(ctx).check(.secrets, name) { return HostFunctions.fail(L, "\(fn): \(denied)") }
        return HostFunctions.suspend(L, ctx, fn) {
            do {
                guard let value = try await vault.get(name) else { return .failure(ModuleError("\(fn): there is no secret '\(name)'")) }
                return .success(.string(try work(SecretBoundCipher.key(secretValue: value, secretName: name), name, data)))
            } catch let e as ModuleError {
                return .failure(ModuleError("\(fn): \(e.message)"))
            } catch {
                return .failure(ModuleError("\(fn): \(error)"))
            }
        }
    }
}

/// The format of `crypto.encrypt`: base64 of a version byte (1), the 12-byte nonce, the
/// ciphertext and the 16-byte tag. The secret's name is authenticated, so a value encrypted
/// under one name does not open under another.
enum SecretBoundCipher {
    static let version: UInt8 = 1

    static func key(secretValue: String, secretName: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(secretValue.utf8)), salt: Array("sloth-runner crypto.encrypt v1".utf8),
            info: Array(secretName.utf8), outputByteCount: 32)
    }

    static func encrypt(_ plaintext: [UInt8], key: SymmetricKey, secretName: String) throws(ModuleError) -> String {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(), authenticating: Array(secretName.utf8))
            return Data([version] + Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)).base64EncodedString()
        } catch {
            throw ModuleError("encryption failed: \(error)")
        }
    }

    static func decrypt(_ text: String, key: SymmetricKey, secretName: String) throws(ModuleError) -> String {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count >= 1 + 12 + 16, data.first == version else {
            throw ModuleError("not a value from crypto.encrypt (expected its base64 text)")
        }
        let bytes = Array(data)
        let plain: Data
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: bytes[1..<13]), ciphertext: bytes[13..<(bytes.count - 16)], tag: bytes.suffix(16))
            plain = try AES.GCM.open(box, using: key, authenticating: Array(secretName.utf8))
        } catch {
            throw ModuleError("cannot decrypt: the value was changed, or encrypted with another secret")
        }
        guard let textOut = String(validating: Array(plain), as: UTF8.self) else {
            throw ModuleError("the decrypted value is not UTF-8 text (encrypt binary data as base64 text)")
        }
        return textOut
    }
}

/// Random bytes from the system's CSPRNG (getrandom(2) on Linux), as swift-crypto draws its
/// nonces and keys.
package enum SecureRandom {
    package static func bytes(_ n: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var out = [UInt8]()
        out.reserveCapacity(n + 8)
        while out.count < n {
            withUnsafeBytes(of: generator.next() as UInt64) { out.append(contentsOf: $0) }
        }
        return Array(out.prefix(n))
    }
}
