/// Text from users and hooks made safe to show on a terminal. A hook's output, an error
/// message or a name can hold control characters that clear the screen, retitle the window,
/// move the cursor or reorder text (`\u{1B}[2J`, OSC sequences, bidi overrides); shown as
/// escapes they are visible and harmless.
package enum TerminalText {
    /// For one line: every control character is escaped, newlines and tabs included.
    package static func escaped(_ text: String) -> String {
        escape(text, keepingLayout: false)
    }

    /// For a block of lines (output, tracebacks): newlines and tabs are kept, every other
    /// control character is escaped.
    package static func escapedBlock(_ text: String) -> String {
        escape(text, keepingLayout: true)
    }

    static func needsEscape(_ u: Unicode.Scalar, keepingLayout: Bool) -> Bool {
        switch u.value {
        case 0x0A, 0x09: return !keepingLayout
        case 0x00..<0x20, 0x7F, 0x80..<0xA0: return true
        // Bidirectional overrides and isolates reorder what a reader sees.
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: return true
        default: return false
        }
    }

    private static func escape(_ text: String, keepingLayout: Bool) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepingLayout: keepingLayout) }) else { return text }
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            guard needsEscape(u, keepingLayout: keepingLayout) else {
                out.append(u)
                continue
            }
            let code: String
            switch u.value {
            case 0x0A: code = "\\n"
            case 0x09: code = "\\t"
            case 0x0D: code = "\\r"
            case 0x1B: code = "\\e"
            case 0..<0x80: code = "\\x" + hex(u.value, width: 2)
            default: code = "\\u{" + hex(u.value, width: 4) + "}"
            }
            out.append(contentsOf: code.unicodeScalars)
        }
        return String(out)
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
