/// Event type names: lowercase dotted segments such as `task.failed` or `custom.deploy_done`.
package enum EventTypeName {
    package static let maxLength = 128

    /// Returns nil when `name` is valid, otherwise what is wrong with it.
    package static func problem(with name: String) -> String? {
        if name.isEmpty { return "the event type is empty" }
        if name.utf8.count > maxLength { return "the event type is longer than \(maxLength) characters" }
        // One pass over the bytes (this runs on every dispatch).
        var previousWasDot = true
        for c in name.utf8 {
            if c == 0x2E {
                if previousWasDot { return "event type '\(name)' has an empty segment (two dots or a dot at either end)" }
                previousWasDot = true
            } else if (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F {
                previousWasDot = false
            } else {
                return "event type '\(TerminalText.escaped(name))' may only contain lowercase letters, digits, '_' and '.' (found \(offending(in: name)))"
            }
        }
        if previousWasDot { return "event type '\(name)' has an empty segment (two dots or a dot at either end)" }
        return nil
    }

    package static func validate(_ name: String) throws(SlothError) {
        if let problem = problem(with: name) { throw .invalidInput(problem) }
    }

    /// The first character a type name may not hold, quoted for a message (a whole character,
    /// not the first byte of its UTF-8 form).
    static func offending(in name: String) -> String {
        for ch in name {
            let ok = ch.unicodeScalars.count == 1 && ch.unicodeScalars.first.map { u in
                (u.value >= 0x61 && u.value <= 0x7A) || (u.value >= 0x30 && u.value <= 0x39) || u.value == 0x5F || u.value == 0x2E
            } == true
            if !ok { return "'\(TerminalText.escaped(String(ch)))'" }
        }
        return "a character that is not allowed"
    }
}

/// What a hook listens to: an exact type, or a pattern where `*` stands for one segment and a
/// trailing `*` for one or more (`task.*`, `*.failed`, `*`).
package struct EventPattern: Sendable, Hashable, CustomStringConvertible {
    package let text: String
    private let segments: [Substring]

    package init(_ text: String) throws(SlothError) {
        if text == "*" {
            self.text = text
            self.segments = ["*"]
            return
        }
        let segments = text.split(separator: ".", omittingEmptySubsequences: false)
        let probe = segments.map { $0 == "*" ? "x" : String($0) }.joined(separator: ".")
        if let problem = EventTypeName.problem(with: probe) {
            throw .invalidInput(problem.replacingOccurrences(of: "'\(probe)'", with: "pattern '\(text)'"))
        }
        self.text = text
        self.segments = segments
    }

    package var isPattern: Bool { segments.contains("*") }
    package var description: String { text }

    package func matches(_ type: String) -> Bool {
        if !isPattern { return type == text }
        let parts = type.split(separator: ".", omittingEmptySubsequences: false)
        for (i, seg) in segments.enumerated() {
            let isLast = i == segments.count - 1
            if seg == "*" && isLast { return parts.count > i }
            guard i < parts.count else { return false }
            if seg != "*" && seg != parts[i] { return false }
        }
        return parts.count == segments.count
    }
}
