import CLua
import CLuaShim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `crypto`: hashes, HMAC, encodings, randomness. Strings are byte strings: hashing a binary
/// value works, and digests come back as lowercase hex.
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
        LuaValues.pushString(Hex.encode(SHA256.digest(data)), on: L)
        return 1
    }

    static let sha512: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let data = input(L, 1) else { return refusal(L, 1, "crypto.sha512") }
        LuaValues.pushString(Hex.encode(SHA512.digest(data)), on: L)
        return 1
    }

    static let hmacSHA256: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let key = input(L, 1) else { return refusal(L, 1, "crypto.hmac_sha256", "(key, message) strings") }
        guard let message = input(L, 2) else { return refusal(L, 2, "crypto.hmac_sha256", "(key, message) strings") }
        LuaValues.pushString(Hex.encode(HMAC.authenticate(key: key, message: message)), on: L)
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
        var bytes = [UInt8](repeating: 0, count: n)
        if n > 0 { bytes.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, n) } }
        LuaValues.pushBytes(bytes, on: L)
        return 1
    }

    static let uuid: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        LuaValues.pushString(UUID().uuidString.lowercased(), on: L)
        return 1
    }
}
