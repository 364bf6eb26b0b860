import ArgumentParser
import Foundation
import SlothRunner

struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List the serve nodes of the database: alive or dead, events in flight, last heartbeat, tags.",
        discussion: """
            Every `serve` registers itself when it starts (node id, host, version, tags, pid)
            and refreshes its row every third of a lease. A node whose heartbeat stopped for
            longer than a lease is marked dead by another node, whose rescue puts its events
            back in the pool; one that shut down cleanly is `stopped`. The duties one node runs
            at a time (retention, the scheduler, health checks) are listed with their holder.
            Several nodes share a PostgreSQL database (`--db postgres://...`); on SQLite the
            list holds this machine's serve and its earlier runs.

            Examples:
              sloth-runner nodes
              sloth-runner --db postgres://sloth@db.internal/sloth nodes -o json
              sloth-runner nodes --all
            """)
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Also list nodes stopped or dead (kept for a week).") var all = false

    func run() async throws {
        try await global.withStore { store in
            let now = nowMillis()
            let nodes = try await store.nodeList().filter { all || $0.state == .alive }
            let duties = try await store.singletonList().filter { $0.expiresAt >= now }
            if global.json {
                printJSON(.object([
                    "nodes": .array(nodes.map(\.json)),
                    "duties": .array(duties.map { d in
                        var o: [String: JSONValue] = ["name": .string(d.name), "owner": .string(d.owner)]
                        JSONValue.stamp(&o, "expires_at", d.expiresAt)
                        return .object(o)
                    }),
                ]))
                return
            }
            if nodes.isEmpty {
                print(all ? "No node has served this database." : "No node is serving this database (`sloth-runner nodes --all` lists earlier ones).")
            } else {
                var t = Table(["Node", "State", "In flight", "Last heartbeat", "Tags", "Host", "Pid", "Version", "Owner"])
                for n in nodes {
                    let ago = max(0, now - n.heartbeatAt)
                    t.add([
                        n.nodeID, n.state.rawValue, "\(n.inFlight)", "\(Format.duration(ago)) ago", n.tags.isEmpty ? "-" : n.tags.joined(separator: ","),
                        n.hostname, "\(n.pid)", n.version, n.owner,
                    ])
                }
                print(t.render(headers: !global.noHeaders))
            }
            if !duties.isEmpty && !global.noHeaders {
                let byOwner = Dictionary(nodes.map { ($0.owner, $0.nodeID) }, uniquingKeysWith: { a, _ in a })
                print("\nOne-node duties: " + duties.map { "\($0.name) on \(byOwner[$0.owner] ?? $0.owner)" }.joined(separator: ", "))
            }
        }
    }
}
