import Crypto

/// Lowercase hexadecimal, the form of every digest a user sees.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// SHA-256 of a hook's source: tells versions of a hook apart in its history.
enum SourceFingerprint {
    static func of(_ source: String) -> String { Hex.encode(SHA256.hash(data: Array(source.utf8))) }
}

/// Equal byte strings, compared in time that depends only on their lengths: comparing a
/// signature byte by byte, stopping at the first difference, tells an attacker how much of a
/// forged one is right.
enum ConstantTime {
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
