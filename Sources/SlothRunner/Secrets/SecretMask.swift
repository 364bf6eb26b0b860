import CLinux
import Foundation

/// The secret values one run has read, and every form of them worth hiding: the value itself,
/// its base64 and base64url (padded or not, and the part of it that stays the same wherever the
/// value sits inside a longer base64 text, as in `Basic base64(user:secret)`), its hex, and
/// its URL encoding. Matching ignores ASCII case, which also covers `UPPER`, `lower` and the
/// case of hex and percent-escapes. Values shorter than four bytes are not masked: they would
/// mangle unrelated text.
struct SecretMask: Sendable {
    struct Form: Sendable {
        let secret: String
        /// ASCII-lowercased bytes.
        let folded: [UInt8]
    }

    let forms: [Form]
    static let minimumLength = 4
    static let none = SecretMask([])

    init(_ secrets: [(name: String, value: String)]) {
        var forms: [Form] = []
        var seen = Set<[UInt8]>()
        for (name, value) in secrets {
            let bytes = Array(value.utf8)
            guard bytes.count >= Self.minimumLength else { continue }
            for form in Self.encodings(of: bytes) where form.count >= Self.minimumLength {
                let folded = Self.fold(form)
                if seen.insert(folded).inserted { forms.append(Form(secret: name, folded: folded)) }
            }
        }
        // Longest first: where one form contains another, the whole of it is masked.
        self.forms = forms.sorted { $0.folded.count > $1.folded.count }
    }

    var isEmpty: Bool { forms.isEmpty }

    /// The longest form, in bytes: how far past a cut a secret may reach.
    var longestForm: Int { forms.first?.folded.count ?? 0 }

    static func fold(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 + 0x20 : $0 }
    }

    static func encodings(of value: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = [value]
        let base64 = Data(value).base64EncodedString()
        let unpadded = base64.trimmingCharacters(in: CharacterSet(charactersIn: "="))
        for text in [base64, unpadded] {
            out.append(Array(text.utf8))
            out.append(Array(text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").utf8))
        }
        // Inside a longer base64 text the value's encoding depends on its offset modulo 3;
        // for each offset, the characters made only of the value's bits are always the same.
        for offset in 0...2 {
            let shifted = Data([UInt8](repeating: 0, count: offset) + value).base64EncodedString()
            let first = (offset * 8 + 5) / 6
            let last = ((offset + value.count) * 8) / 6
            let chars = Array(shifted.utf8)
            if last > first, last <= chars.count {
                let core = Array(chars[first..<last])
                out.append(core)
                out.append(core.map { $0 == 0x2B ? 0x2D : ($0 == 0x2F ? 0x5F : $0) })
            }
        }
        out.append(Array(value.map { String(format: "%02x", $0) }.joined().utf8))
        // URL encoders differ in what they leave alone: RFC 3986's unreserved characters, those
        // plus JavaScript's encodeURIComponent set, or letters and digits only.
        let alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        if let text = String(bytes: value, encoding: .utf8) {
            for kept in [alphanumeric + "-._~", alphanumeric + "-._~!*'()", alphanumeric] {
                guard let percent = text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: kept)) else { continue }
                out.append(Array(percent.utf8))
                out.append(Array(percent.replacingOccurrences(of: "%20", with: "+").utf8))
            }
        }
        return out
    }

    /// Every byte range of `text` that holds a form of a secret, merged.
    private func ranges(in text: [UInt8]) -> [Range<Int>] {
        guard !forms.isEmpty, !text.isEmpty else { return [] }
        let folded = Self.fold(text)
        var found: [Range<Int>] = []
        folded.withUnsafeBytes { hay in
            for form in forms where form.folded.count <= folded.count {
                form.folded.withUnsafeBytes { needle in
                    var at = 0
                    while at + needle.count <= hay.count {
                        guard let p = sloth_memmem(hay.baseAddress! + at, hay.count - at, needle.baseAddress!, needle.count) else { break }
                        let start = hay.baseAddress!.distance(to: UnsafeRawPointer(p))
                        found.append(start..<start + needle.count)
                        at = start + needle.count
                    }
                }
            }
        }
        found.sort { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = []
        for r in found {
            if let last = merged.last, r.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        return merged
    }

    /// `text` with every form of every secret replaced by `***`.
    func masked(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let hits = ranges(in: bytes)
        guard !hits.isEmpty else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var at = 0
        for r in hits {
            out.append(contentsOf: bytes[at..<r.lowerBound])
            out.append(contentsOf: Array("***".utf8))
            at = r.upperBound
        }
        out.append(contentsOf: bytes[at...])
        return String(decoding: out, as: UTF8.self)
    }

    /// The length of the longest end of `text` that is the beginning of a form of a secret: what
    /// must go when text is cut there, or a part of a secret would be kept.
    func partialSecretSuffix(of text: [UInt8]) -> Int {
        guard !forms.isEmpty else { return 0 }
        let tail = Self.fold(Array(text.suffix(longestForm)))
        var longest = 0
        for form in forms {
            longest = max(longest, Self.longestPrefix(of: form.folded, endingAt: tail))
        }
        return longest
    }

    /// The longest proper prefix of `pattern` that `text` ends with: the state Knuth-Morris-Pratt
    /// matching of `pattern` is in at the end of `text` (linear, where trying every length would
    /// be quadratic in a 64 KiB secret).
    static func longestPrefix(of pattern: [UInt8], endingAt text: [UInt8]) -> Int {
        guard !pattern.isEmpty else { return 0 }
        var failure = [Int](repeating: 0, count: pattern.count)
        var k = 0
        for i in 1..<pattern.count {
            while k > 0 && pattern[i] != pattern[k] { k = failure[k - 1] }
            if pattern[i] == pattern[k] { k += 1 }
            failure[i] = k
        }
        var state = 0
        for byte in text {
            while state > 0 && (state == pattern.count || byte != pattern[state]) { state = failure[state - 1] }
            if byte == pattern[state] { state += 1 }
        }
        return state == pattern.count ? failure[state - 1] : state
    }

    /// Masks `text`, then cuts it to `limit` bytes (on a character boundary) without leaving a
    /// beginning of a secret at the cut; `dropped` says how much was cut. `cutAlready`: the
    /// text is itself the start of something longer, so its own end may hold part of a secret.
    func maskedAndBounded(_ text: String, limit: Int, cutAlready: Bool = false) -> (text: String, dropped: Int) {
        // The common case, on every run's way out: nothing to mask, nothing to cut.
        if forms.isEmpty && text.utf8.count <= limit { return (text, 0) }
        var source = text
        var trimmed = 0
        if cutAlready {
            let raw = Array(text.utf8)
            trimmed = partialSecretSuffix(of: raw)
            if trimmed > 0 { source = String(decoding: raw.dropLast(trimmed), as: UTF8.self) }
        }
        let masked = self.masked(source)
        var bytes = Array(masked.utf8)
        guard bytes.count > limit else { return (masked, trimmed) }
        let total = bytes.count + trimmed
        bytes.removeLast(bytes.count - limit)
        bytes.removeLast(partialSecretSuffix(of: bytes))
        while let last = bytes.last, last & 0xC0 == 0x80 { bytes.removeLast() }  // a split character
        if let last = bytes.last, last >= 0xC0 { bytes.removeLast() }
        return (String(decoding: bytes, as: UTF8.self), total - bytes.count)
    }

    /// The name of the first secret whose value (in any form) a JSON value holds, with where.
    func leak(in value: JSONValue, path: [String] = []) -> (secret: String, path: String)? {
        guard !forms.isEmpty else { return nil }
        func check(_ text: String, _ at: [String]) -> (String, String)? {
            let folded = Self.fold(Array(text.utf8))
            for form in forms where folded.count >= form.folded.count {
                if folded.withUnsafeBytes({ hay in
                    form.folded.withUnsafeBytes { sloth_memmem(hay.baseAddress!, hay.count, $0.baseAddress!, $0.count) != nil }
                }) {
                    return (form.secret, at.joined(separator: "."))
                }
            }
            return nil
        }
        switch value {
        case .string(let s): return check(s, path)
        case .array(let items):
            for (i, item) in items.enumerated() {
                if let hit = leak(in: item, path: path + [String(i + 1)]) { return hit }
            }
        case .object(let o):
            for (k, v) in o.sorted(by: { $0.key < $1.key }) {
                if let hit = check(k, path + [k]) { return hit }
                if let hit = leak(in: v, path: path + [k]) { return hit }
            }
        default: break
        }
        return nil
    }
}
