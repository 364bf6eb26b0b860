import Foundation
import Logging
import SlothRunner

/// Writes log records to stderr, one line each: for people (`text`) or for log shippers
/// (`json`: one object per line with `timestamp`, `level`, `message`, `label` and `metadata`).
/// Each record is one write(2), so lines from many threads never interleave.
struct StderrLogHandler: LogHandler {
    enum Format: String, Sendable { case text, json }

    let label: String
    let format: Format
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
        let record = Self.render(format: format, at: nowMillis(), level: event.level, message: event.message.description, label: label, metadata: all)
        record.withCString { _ = write(2, $0, strlen($0)) }
    }

    static func render(format: Format, at millis: Millis, level: Logger.Level, message: String, label: String, metadata: Logger.Metadata) -> String {
        let stamp = RFC3339.string(millis: millis)
        switch format {
        case .json:
            var object: [String: JSONValue] = [
                "timestamp": .string(stamp), "level": .string(level.rawValue), "message": .string(message), "label": .string(label),
            ]
            if !metadata.isEmpty { object["metadata"] = .object(metadata.mapValues(json)) }
            return JSONValue.object(object).serialized() + "\n"
        case .text:
            // Messages quote what users and hooks gave: control bytes must not drive the terminal.
            var line = "\(stamp) \(level.rawValue.uppercased()) \(TerminalText.escaped(message))"
            for key in metadata.keys.sorted() {
                line += " \(key)=\(TerminalText.escaped(text(metadata[key]!)))"
            }
            return line + "\n"
        }
    }

    private static func json(_ value: Logger.MetadataValue) -> JSONValue {
        switch value {
        case .string(let s): return .string(s)
        case .stringConvertible(let c):
            if let n = c as? Int { return .int(Int64(n)) }
            if let n = c as? Int64 { return .int(n) }
            if let d = c as? Double { return .double(d) }
            if let b = c as? Bool { return .bool(b) }
            return .string(c.description)
        case .array(let items): return .array(items.map(json))
        case .dictionary(let d): return .object(d.mapValues(json))
        }
    }

    private static func text(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): return s.contains(" ") || s.isEmpty ? "\"\(s)\"" : s
        case .stringConvertible(let c): return c.description
        case .array(let items): return "[" + items.map(text).joined(separator: ",") + "]"
        case .dictionary(let d): return "{" + d.keys.sorted().map { "\($0)=\(text(d[$0]!))" }.joined(separator: ",") + "}"
        }
    }
}

/// Starts logging for the whole process from the effective `log.level` and `log.format`.
enum LogSetup {
    static func bootstrap(_ settings: EffectiveSettings) {
        let level = Self.level(settings.text("log.level") ?? "info")
        let format = StderrLogHandler.Format(rawValue: settings.text("log.format") ?? "text") ?? .text
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, format: format, level: level) }
    }

    /// Our names for levels (the specification's `warn`) onto swift-log's.
    static func level(_ name: String) -> Logger.Level {
        switch name {
        case "trace": return .trace
        case "debug": return .debug
        case "notice": return .notice
        case "warn", "warning": return .warning
        case "error": return .error
        case "critical": return .critical
        default: return .info
        }
    }
}
