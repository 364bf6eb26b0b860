import Foundation
import SlothRunner

enum HookView {
    static func setEnabled(_ enabled: Bool, name: String, store: any EventStoreDriver, json: Bool) async throws {
        try await store.setHookEnabled(name: name, enabled: enabled)
        if json {
            printJSON(.object(["name": .string(name), "enabled": .bool(enabled)]))
        } else {
            print("Hook '\(name)' \(enabled ? "enabled" : "disabled").")
        }
    }

    static func json(_ h: Hook, stats: HookStats?) -> JSONValue { h.json(stats: stats) }

    /// `severity = "critical", deploy.env in ["production","staging"]`
    static func filterText(_ f: DataFilter) -> String {
        f.conditions.map { c in
            c.accepted.count == 1 ? "\(c.path) = \(c.accepted[0].serialized())" : "\(c.path) in [\(c.accepted.map { $0.serialized() }.joined(separator: ","))]"
        }.joined(separator: ", ")
    }

    static func permissionsText(_ p: HookPermissions?) -> String {
        guard let p else { return "none declared (all modules available unless serve runs with --strict-permissions)" }
        if p.grants.isEmpty { return "declared empty: no capabilities" }
        return p.grants.keys.sorted { $0.rawValue < $1.rawValue }.map { "\($0.rawValue): \(p.grants[$0]!.joined(separator: ", "))" }.joined(separator: "; ")
    }

    static func executionsTable(_ runs: [HookExecution], showEvent: Bool, headers: Bool = true) -> String {
        var t = Table(showEvent ? ["Event", "Status", "Attempt", "Duration", "Executed At", "Error"] : ["Hook Name", "Status", "Attempt", "Duration", "Executed At"])
        for r in runs {
            if showEvent {
                t.add([r.eventID, Format.status(r.success), "\(r.attempt)", Format.duration(r.durationMillis), Format.timestamp(r.executedAt), firstLine(r.error ?? "")])
            } else {
                t.add([r.hookName, Format.status(r.success), "\(r.attempt)", Format.duration(r.durationMillis), Format.timestamp(r.executedAt)])
            }
        }
        return t.render(headers: headers)
    }

    static func firstLine(_ s: String, max: Int = 60) -> String {
        let line = s.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return line.count > max ? String(line.prefix(max - 1)) + "…" : line
    }
}
