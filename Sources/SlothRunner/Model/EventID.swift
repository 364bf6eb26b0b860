import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Time-ordered event ids (UUID version 7): sorting ids sorts events by creation time, and a
/// short prefix is usually enough to name one.
package enum EventID {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Random bytes fetched 4 KiB at a time: glibc's arc4random_buf makes a getrandom system
    /// call per call, which would be one per dispatched event.
    private static let pool = Mutex<(bytes: [UInt8], next: Int)>(([UInt8](repeating: 0, count: 4096), 4096))

    private static func randomBits() -> (UInt64, UInt64) {
        pool.withLock { p in
            if p.next + 16 > p.bytes.count {
                p.bytes.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
                p.next = 0
            }
            var r = (UInt64(0), UInt64(0))
            let start = p.next
            withUnsafeMutableBytes(of: &r) { dst in
                p.bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + 16)])) }
            }
            p.next += 16
            return r
        }
    }

    /// The smallest id an event created at `millis` or later can have: its time prefix
    /// (`0193a1b2-c3d4`), which sorts before every id of that millisecond.
    package static func lowerBound(millis: Millis) -> String {
        let hex = String(UInt64(max(0, millis)) & 0xFFFF_FFFF_FFFF, radix: 16)
        let padded = String(repeating: "0", count: 12 - hex.count) + hex
        return padded.prefix(8) + "-" + padded.suffix(4)
    }

    package static func make(millis: Millis = nowMillis()) -> String {
        var bytes = randomBits()
        return withUnsafeMutableBytes(of: &bytes) { raw -> String in
            let b = raw.bindMemory(to: UInt8.self)
            let ms = UInt64(millis)
            for i in 0..<6 { b[i] = UInt8((ms >> (8 * UInt64(5 - i))) & 0xFF) }
            b[6] = (b[6] & 0x0F) | 0x70
            b[8] = (b[8] & 0x3F) | 0x80
            return String(unsafeUninitializedCapacity: 36) { out in
                var o = 0
                for i in 0..<16 {
                    if i == 4 || i == 6 || i == 8 || i == 10 {
                        out[o] = UInt8(ascii: "-")
                        o += 1
                    }
                    out[o] = hexDigits[Int(b[i] >> 4)]
                    out[o + 1] = hexDigits[Int(b[i] & 0x0F)]
                    o += 2
                }
                return o
            }
        }
    }
}
