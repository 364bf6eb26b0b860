import Foundation
import SlothRunner

/// The config file's `schedules:` section:
/// `NAME: {cron: '30 2 * * *', timezone: Europe/Berlin, event_type: custom.backup, data: {…}, catch_up: once}`.
public enum ScheduleDeclaration {
    static let fields = ["cron", "timezone", "event_type", "data", "stack", "catch_up", "max_catch_up"]

    package static func parse(_ section: SourceConfigNode, now: Millis) throws(SlothError) -> [Schedule] {
        var out: [Schedule] = []
        for (name, node) in try section.entries(what: "schedule") {
            let m = try node.members(fields, what: "the schedule's fields (cron, timezone, event_type, data, …)")
            guard let cronNode = m["cron"] else { throw node.error("needs cron") }
            let cron = try cronNode.text()
            do { _ = try CronExpression(cron) } catch { throw cronNode.error(error.description) }
            let zone = try m["timezone"]?.text() ?? TimeZone.current.identifier
            guard TimeZone(identifier: zone) != nil else { throw (m["timezone"] ?? node).error("unknown time zone '\(zone)'; use an IANA name such as Europe/Berlin or UTC") }
            var schedule = Schedule(name: name, cron: cron, zone: zone, createdAt: now, declaredIn: section.file)
            if let n = m["event_type"] { schedule.eventType = try n.text() }
            if let n = m["data"] {
                schedule.data = try json(n)
                guard case .object = schedule.data else { throw n.error("must be a mapping") }
            }
            if let n = m["stack"] { schedule.stack = try n.text() }
            if let n = m["catch_up"] {
                let text = try n.text()
                guard let policy = Schedule.CatchUp(rawValue: text.lowercased()) else { throw n.error("must be skip, once or all, not '\(text)'") }
                schedule.catchUp = policy
            }
            if let n = m["max_catch_up"] { schedule.maxCatchUp = Int(try n.number(in: 1...10_000)) }
            do { try SourceThingName.validate(name, what: "schedule") } catch { throw node.error(error.description) }
            do { _ = try NewEvent(type: schedule.eventType, data: schedule.data, stack: schedule.stack).validated() } catch {
                throw node.error("its events would be refused: \(error)")
            }
            out.append(schedule)
        }
        return out
    }

    /// YAML as JSON: mappings, lists, and scalars as booleans, numbers, null or text.
    static func json(_ node: SourceConfigNode) throws(SlothError) -> JSONValue {
        switch node.value {
        case .mapping(let pairs):
            var o: [String: JSONValue] = [:]
            for (k, v) in pairs { o[k] = try json(v) }
            return .object(o)
        case .sequence(let items):
            var a: [JSONValue] = []
            for item in items { a.append(try json(item)) }
            return .array(a)
        case .scalar(let s):
            switch s {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "null", "~": return .null
            default:
                if let i = Int64(s) { return .int(i) }
                if let d = Double(s), d.isFinite { return .double(d) }
                return .string(s)
            }
        }
    }
}
