import ArgumentParser
import Foundation
import SlothRunner

struct SourcesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sources",
        abstract: "List serve's event sources: running or failing (and why), last event, events emitted.",
        discussion: """
            Sources produce events on their own: `engine` (system.startup, system.shutdown,
            system.error) and `scheduler` (the schedules of `sloth-runner schedule`). What is shown
            is what the running serve last reported (every second); with no serve running, each
            source is shown stopped, with what it reported before.

            Examples:
              sloth-runner sources
              sloth-runner sources -o json
            """)
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.withStore { store in
            let lock = try DaemonLock(databasePath: global.databasePath)
            let serving = !(try lock.tryAcquire())
            lock.release()
            var rows = try await store.sourceStatusList()
            if !serving { rows = rows.map { var r = $0; r.state = .stopped; return r } }
            if rows.isEmpty {
                // Never served: what serve would start.
                let now = nowMillis()
                rows = [SourceStatus(name: "engine", kind: "engine", state: .stopped, updatedAt: now),
                        SourceStatus(name: "scheduler", kind: "scheduler", state: .stopped, updatedAt: now)]
            }
            if global.json {
                printJSON(.object(["serving": .bool(serving), "sources": .array(rows.map(\.json))]))
                return
            }
            var t = Table(["Name", "Kind", "State", "Emitted", "Last event", "Error"])
            for r in rows {
                let last = r.lastEventAt.map { "\(r.lastEventType ?? "?") at \(RFC3339.string(millis: $0))" } ?? "-"
                t.add([r.name, r.kind, r.state.rawValue, "\(r.emitted)", last, r.error ?? "-"])
            }
            print(t.render(headers: !global.noHeaders))
            if !serving { print("serve is not running on \(global.databasePath).") }
        }
    }
}
