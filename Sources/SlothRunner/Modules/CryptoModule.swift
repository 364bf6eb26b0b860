import CLua
import CLuaShim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `crypto`: hashes, HMAC, encodings, randomness. Strings are byte strings: hashing a binary
/// value works, and digests come back as lowercase hex.
enum CryptoModule {
    static func input(_ L: OpaquePointer, _ idx: Int32) -> [UInt8]? {
        if let b = LuaValues.bytes(at: idx, on: L) { return b }
        if lua_type(L, idx) == LUA_TNUMBER { return Array(LuaValues.errorText(at: idx, on: L).utf8) }
        return nil
    }

    static let sha256: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let data = input(L, 1) else { return HostFunctions.fail(L, "crypto.sha256: expected a string") }
        LuaValues.pushString(Hex.encode(SHA256.digest(data)), on: L)
        return 1
    }

    static let sha512: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let data = input(L, 1) else { return HostFunctions.fail(L, "crypto.sha512: expected a string") }
        LuaValues.pushString(Hex.encode(SHA512.digest(data)), on: L)
        return 1
    }

    static let hmacSHA256: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let key = input(L, 1), let message = input(L, 2) else {
            return HostFunctions.fail(L, "crypto.hmac_sha256: expected (key, message) strings")
        }
        LuaValues.pushString(Hex.encode(HMAC.authenticate(key: key, message: message)), on: L)
        return 1
    }

    static let base64Encode: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let data = input(L, 1) else { return HostFunctions.fail(L, "crypto.base64_encode: expected a string") }
        LuaValues.pushString(Data(data).base64EncodedString(), on: L)
        return 1
    }

    static let base64Decode: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let text = LuaValues.string(at: 1, on: L) else { return HostFunctions.fail(L, "crypto.base64_decode: expected a string") }
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines), options: .ignoreUnknownCharacters) else {
            return HostFunctions.fail(L, "crypto.base64_decode: not valid base64")
        }
        LuaValues.pushBytes(data, on: L)
        return 1
    }

    static let hex: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let data = input(L, 1) else { return HostFunctions.fail(L, "crypto.hex: expected a string") }
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
