import Foundation
import SlothRunner

enum Format {
    static func timestamp(_ ms: Millis?) -> String {
        guard let ms else { return "-" }
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: date)
    }

    static func duration(_ ms: Int64?) -> String {
        guard let ms else { return "-" }
        return DurationText.format(millis: ms)
    }

    static func bytes(_ n: Int) -> String {
        if n >= 1 << 20 { return String(format: "%.1f MiB", Double(n) / Double(1 << 20)) }
        if n >= 1 << 10 { return String(format: "%.1f KiB", Double(n) / 1024) }
        return "\(n) B"
    }

    /// With emoji on a terminal (unless NO_COLOR is set), plain words in a pipe.
    static func status(_ success: Bool) -> String {
        guard Terminal.decorates else { return success ? "success" : "failed" }
        return success ? "✅ Success" : "❌ Failed"
    }
}

/// Text that came from users or hooks, on its way to a terminal.
enum Terminal {
    static let stdoutIsTTY = isatty(1) == 1

    /// Emoji and colour: only for a person at a terminal, and not when NO_COLOR is set
    /// (https://no-color.org: any non-empty value).
    static let decorates = stdoutIsTTY && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty

    /// A block (output, an error with its traceback): on a terminal, control characters other
    /// than newline and tab are shown escaped (`\e[2J` clears no screen); in a pipe, as is.
    static func block(_ text: String) -> String { stdoutIsTTY ? TerminalText.escapedBlock(text) : text }

    /// Within one line: always escaped, a newline included.
    static func line(_ text: String) -> String { TerminalText.escaped(text) }
}

/// Box-drawn tables as in the specification's examples.
struct Table {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: [String]) { self.headers = headers }

    /// Cells are escaped: a control character would break the box, or worse.
    mutating func add(_ row: [String]) { rows.append(row.map(Terminal.line)) }

    static func width(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { acc, u in
            if u.properties.generalCategory == .nonspacingMark || u.value == 0xFE0F { return acc }
            return acc + (u.properties.isEmojiPresentation ? 2 : 1)
        }
    }

    /// `headers` false (`--no-headers`): the rows alone, cells separated by tabs, for scripts.
    func render(headers showHeaders: Bool = true) -> String {
        guard showHeaders else { return rows.map { $0.joined(separator: "\t") }.joined(separator: "\n") }
        var widths = headers.map(Self.width)
        for r in rows {
            for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], Self.width(c)) }
        }
        func line(_ l: String, _ m: String, _ r: String) -> String {
            l + widths.map { String(repeating: "─", count: $0 + 2) }.joined(separator: m) + r
        }
        func row(_ cells: [String]) -> String {
            "│" + cells.enumerated().map { i, c in " " + c + String(repeating: " ", count: max(0, widths[i] - Self.width(c))) + " " }.joined(separator: "│") + "│"
        }
        var out = [line("┌", "┬", "┐"), row(headers), line("├", "┼", "┤")]
        for r in rows { out.append(row(r + Array(repeating: "", count: max(0, headers.count - r.count)))) }
        out.append(line("└", "┴", "┘"))
        return out.joined(separator: "\n")
    }
}

/// What a cut list says about itself.
enum ListNote {
    /// "showing 50 of 111; use --limit to see more" (nil when nothing was cut).
    static func cut(shown: Int, total: Int, cap: Int) -> String? {
        guard total > shown else { return nil }
        let of = total >= cap ? "more than \(cap - 1)" : "\(total)"
        return "showing \(shown) of \(of); use --limit to see more"
    }

    /// The note on stderr, for JSON output (whose stdout stays the bare array).
    static func warn(_ note: String) {
        FileHandle.standardError.write(Data("note: \(note)\n".utf8))
    }
}
