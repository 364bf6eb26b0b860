import Foundation

/// Time-ordered event ids (UUID version 7): sorting ids sorts events by creation time, and a
/// short prefix is usually enough to name one.
public enum EventID {
    public static func make(millis: Millis = nowMillis()) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let ms = UInt64(millis)
        for i in 0..<6 { bytes[i] = UInt8((ms >> (8 * (5 - UInt64(i)))) & 0xFF) }
        var rng = SystemRandomNumberGenerator()
        for i in 6..<16 { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        bytes[6] = (bytes[6] & 0x0F) | 0x70
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let h = Array(hex)
        return String(h[0..<8]) + "-" + String(h[8..<12]) + "-" + String(h[12..<16]) + "-"
            + String(h[16..<20]) + "-" + String(h[20..<32])
    }
}
