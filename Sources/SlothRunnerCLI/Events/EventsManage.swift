import ArgumentParser
import Foundation
import SlothRunner

struct EventsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List recent events, newest first.",
        discussion: """
            Examples:
              sloth-runner events list
              sloth-runner events list --type task.failed --status failed --since 24h --limit 100
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only events of this type.") var type: String?
    @Option(help: "Only events with this status: pending, processing, completed, failed.") var status: String?
    @Option(help: "Only events of this stack.") var stack: String?
    @Option(help: "Only events created within this duration, e.g. 1h, 24h.") var since: String?
    @Option(help: "How many events to show (newest first).") var limit = 50
    /// Beyond this a cut list says "of more than 10000" rather than count further.
    static let countCap = 10_000

    func run() async throws {
        try await runReporting {
            var filter = EventFilter(type: type, stack: stack, limit: limit)
            guard limit > 0 else { throw SlothError.invalidInput("--limit must be positive") }
            if let status {
                guard let s = EventStatus(rawValue: status) else {
                    throw SlothError.invalidInput("unknown status '\(status)'; use one of: \(EventStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                filter.status = s
            }
            if let since { filter.since = nowMillis() - (try DurationText.millis(since, for: "--since")) }
            let store = try await global.openStore()
            defer { store.closeNow() }
            let events = try await store.listEvents(filter)
            // Counted only when the list is cut, and only so far.
            let total = events.count < limit ? events.count : try await store.countEvents(filter, cap: Self.countCap)
            if global.json {
                printJSON(.array(events.map(\.json)))
                // stdout stays the array scripts read; the cut is said on stderr.
                if let note = ListNote.cut(shown: events.count, total: total, cap: Self.countCap) { ListNote.warn(note) }
                return
            }
            if events.isEmpty {
                print("No events match.")
                return
            }
            var t = Table(["ID", "Type", "Stack", "Status", "Attempts", "Created"])
            for e in events { t.add([e.id, e.type, e.stack ?? "-", e.status.rawValue, "\(e.attempts)", Format.timestamp(e.createdAt)]) }
            print(t.render(headers: !global.noHeaders))
            if !global.noHeaders, let note = ListNote.cut(shown: events.count, total: total, cap: Self.countCap) { print(note) }
        }
    }
}

struct EventsGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print an event as JSON.", discussion: "Example:\n  sloth-runner events get 0193a1b2")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Event id or a unique prefix of it.") var id: String
    func run() async throws {
        try await global.withStore { store in
            printJSON(try await store.resolveEvent(id).json)
        }
    }
}

struct EventsShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show an event with every hook execution and its errors.",
        discussion: "Example:\n  sloth-runner events show 0193a1b2")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Event id or a unique prefix of it.") var id: String
    func run() async throws {
        try await global.withStore { store in
            try await EventView.print(id, store: store, json: global.json)
        }
    }
}

struct EventsDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete an event and its executions.", discussion: "Example:\n  sloth-runner events delete 0193a1b2")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Event id or a unique prefix of it.") var id: String
    func run() async throws {
        try await global.withStore { store in
            let e = try await store.resolveEvent(id)
            try await store.deleteEvent(id: e.id)
            if global.json { printJSON(.object(["id": .string(e.id), "deleted": .bool(true)])) } else { print("Event \(e.id) deleted.") }
        }
    }
}

struct EventsCleanup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup", abstract: "Delete finished events older than a duration.",
        discussion: """
            Without --status, completed and failed events are deleted; events still pending or in
            processing are never touched unless named with --status.

            Examples:
              sloth-runner events cleanup --older-than 720h
              sloth-runner events cleanup --older-than 24h --status failed
              sloth-runner events cleanup --older-than 720h --dry-run

            Deletes go in batches of 200 events, so a running `serve` keeps dispatching meanwhile,
            and the space is given back to the file system (see `sloth-runner db vacuum`).
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "Age, e.g. 720h (30 days), 7d, 90m.") var olderThan: String
    @Option(help: "Only events with this status.") var status: String?
    @Flag(help: "Say how many events would be deleted, and delete nothing.") var dryRun = false
    func run() async throws {
        try await runReporting {
            let age = try DurationText.millis(olderThan, for: "--older-than")
            var st: EventStatus?
            if let status {
                guard let s = EventStatus(rawValue: status) else { throw SlothError.invalidInput("unknown status '\(status)'; use one of: \(EventStatus.allCases.map(\.rawValue).joined(separator: ", "))") }
                st = s
            }
            let store = try await global.openStore()
            defer { store.closeNow() }
            if dryRun {
                let n = try await store.countEvents(olderThan: nowMillis() - age, status: st)
                if global.json { printJSON(.object(["would_delete": .int(Int64(n)), "dry_run": .bool(true)])) } else { print("Would delete \(n) event\(n == 1 ? "" : "s") older than \(olderThan) (dry run: nothing deleted).") }
                return
            }
            let n = try await store.deleteEvents(olderThan: nowMillis() - age, status: st)
            if global.json { printJSON(.object(["deleted": .int(Int64(n))])) } else { print("Deleted \(n) event\(n == 1 ? "" : "s") older than \(olderThan).") }
        }
    }
}

struct EventsRetry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Re-arm a failed event: its dead-lettered hooks get a fresh set of attempts.",
        discussion: "Hooks that already succeeded for the event do not run again.\n\nExample:\n  sloth-runner events retry 0193a1b2")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Event id or a unique prefix of it.") var id: String
    func run() async throws {
        try await global.withStore { store in
            let e = try await store.resolveEvent(id)
            try await store.retryEvent(id: e.id, now: nowMillis())
            if global.json {
                printJSON(.object(["id": .string(e.id), "status": .string("pending")]))
            } else {
                print("Event \(e.id) re-armed; `sloth-runner serve` runs it (follow with `sloth-runner events show \(e.id.prefix(13))`).")
            }
        }
    }
}

struct EventsTypes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "types", abstract: "List the known event types and their payload fields.",
        discussion: "Examples:\n  sloth-runner events types\n  sloth-runner events types --category task")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this category, e.g. task, agent, file.") var category: String?
    func run() async throws {
        try await runReporting {
            let entries = EventCatalog.entries.filter { category == nil || $0.category == category }
            if entries.isEmpty {
                let cats = Set(EventCatalog.entries.map(\.category)).sorted().joined(separator: ", ")
                throw SlothError.notFound("no category '\(category ?? "")'; categories: \(cats)")
            }
            if global.json {
                printJSON(.array(entries.map(\.json)))
                return
            }
            var t = Table(["Type", "Category", "Payload Fields"])
            for e in entries { t.add([e.type, e.category, e.fields.isEmpty ? "-" : e.fields]) }
            print(t.render(headers: !global.noHeaders))
        }
    }
}
