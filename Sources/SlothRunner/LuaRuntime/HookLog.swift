import Logging

/// A hook's `log.*` line on its way to the daemon's log: at the hook's level, with the hook,
/// the event and the line's fields as metadata, and the run's secrets masked as in its output.
enum HookLog {
    static func forward(_ levelName: String, _ message: String, _ fields: JSONValue?, run: ActiveRun, to logger: Logger) {
        let level = Self.level(levelName)
        guard logger.logLevel <= level else { return }
        let mask = run.revealedIfAny?.mask
        func clean(_ text: String) -> String { mask?.masked(text) ?? text }
        var metadata: Logger.Metadata = ["hook": .string(run.request.hookName)]
        if let id = run.request.event.id { metadata["event_id"] = .string(id) }
        if case .object(let object)? = fields {
            for (key, value) in object where metadata[key] == nil {
                metadata[key] = .string(clean(value.stringValue ?? value.serialized()))
            }
        }
        logger.log(level: level, "\(clean(message))", metadata: metadata)
    }

    static func level(_ name: String) -> Logger.Level {
        switch name {
        case "debug": return .debug
        case "warn": return .warning
        case "error": return .error
        default: return .info
        }
    }
}
