import ArgumentParser
import Foundation
import SlothRunner
import SlothRunnerPostgres

struct SourcesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sources",
        abstract: "List serve's event sources: running or failing (and why), last event, events emitted.",
        discussion: """
            Sources produce events on their own: `engine` (system.startup, system.shutdown,
            system.error), `scheduler` (the schedules of `sloth-runner schedule`), `checks` (the
            health checks of `sloth-runner check`), `watcher` (the file watches of `sloth-runner
            watch`) and `monitor` (the config file's `monitor:`
            thresholds on CPU, memory, load and disk). What is shown
            is what the running serve last reported (every second); with no serve running, each
            source is shown stopped, with what it reported before.

            Examples:
              sloth-runner sources
              sloth-runner sources -o json
            """)
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.withStore { store in
            // On PostgreSQL, many nodes and no local lock to ask.
            let postgres = store is PostgresEventStore
            let serving: Bool
            if postgres {
                // Many nodes, no local lock to ask: serving while any node heartbeats.
                serving = try await store.nodeList().contains { $0.state == .alive }
            } else {
                let lock = try DaemonLock(databasePath: global.databasePath)
                serving = !(try lock.tryAcquire())
                lock.release()
            }
            var rows = try await store.sourceStatusList()
            if !serving { rows = rows.map { var r = $0; r.state = .stopped; return r } }
            // What serve would start now, with what it last reported of each; sources it ran
            // before and the configuration dropped are left out.
            let settings = try global.settings()
            let plan = try ServePlan(settings)
            var configured: [(String, String)] = plan.engineEvents ? [("engine", "engine")] : []
            configured.append(("scheduler", "scheduler"))
            configured.append(("checks", "check"))
            configured.append(("watcher", "watch"))
            if plan.monitor != nil { configured.append(("monitor", "monitor")) }
            if !serving {
                let known = Dictionary(rows.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                rows = configured.map { name, kind in known[name] ?? SourceStatus(name: name, kind: kind, state: .stopped, updatedAt: nowMillis()) }
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
            if !serving { print(postgres ? "No serve node is running on this database." : "serve is not running on \(global.databasePath).") }
            if postgres && serving && !global.noHeaders {
                print("(As the node that last reported saw them; `sloth-runner nodes` shows which node runs the scheduler and checks.)")
            }
        }
    }
}
