import ArgumentParser
import Foundation
import SlothRunner
import SlothRunnerSources

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Manage schedules: events fired on a cron expression by serve's scheduler.",
        discussion: """
            Each slot fires `schedule.triggered` (or --event-type) {schedule_name, schedule_id,
            scheduled_time, fired_time, cron_expr, timezone, catch_up} with --data merged in,
            exactly once across restarts and crashes. Slots missed while serve was down follow
            --catch-up: skip (emit schedule.missed for them), once (fire the latest), all (fire
            each, at most --max-catch-up). A slot up to a minute late fires as usual.

            Expressions: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds
            first; ranges 1-5, steps */15 and 5/10, lists 1,15, names JAN-DEC and SUN-SAT (0 and 7
            are Sunday); @hourly, @daily, @weekly, @monthly, @yearly; @every 30s (aligned to the
            Unix epoch). Times are the wall clock of --tz: on a spring-forward day a slot in the
            skipped hour fires once, when the clocks jump; on a fall-back day a slot in the repeated
            hour fires once, the first time.

            Examples:
              sloth-runner schedule add backup --cron '30 2 * * *' --tz Europe/Berlin --event-type custom.backup
              sloth-runner schedule add heartbeat --cron '@every 30s' --data '{"target":"db"}' --catch-up skip
              sloth-runner schedule add report --cron '0 9 * * MON-FRI' --catch-up once
              sloth-runner schedule next backup --count 5
              sloth-runner schedule disable backup
              sloth-runner schedule list -o json
            """,
        subcommands: [ScheduleAdd.self, ScheduleList.self, ScheduleGet.self, ScheduleRemove.self, ScheduleEnable.self, ScheduleDisable.self, ScheduleNext.self]
    )

    /// Who changed a schedule, for the catalog's `deleted_by`, `enabled_by`, `disabled_by`.
    static var actor: String { cliActor }

    /// The catalog's event for a change (schedule.created …), stored for serve to run hooks on.
    static func announce(_ store: any EventQueueStore, _ type: String, _ data: [String: JSONValue]) async throws {
        var data = data
        data["source"] = .string("cli")
        try await store.insertEvents([Engine.pendingEvent(from: NewEvent(type: type, data: .object(data)))])
    }

    static func zone(_ identifier: String?) throws(SlothError) -> TimeZone {
        guard let identifier else { return TimeZone.current }
        guard let zone = TimeZone(identifier: identifier) else {
            let known = TimeZone.knownTimeZoneIdentifiers
            throw .invalidInput("--tz: unknown time zone '\(identifier)'; use an IANA name such as Europe/Berlin or UTC\(NameSuggestion.hint(for: identifier, among: known))")
        }
        return zone
    }

    static func find(_ store: any ScheduleStore, _ name: String) async throws -> Schedule {
        guard let s = try await store.schedule(named: name) else { throw SlothError.notFound("no schedule named '\(name)' (see `sloth-runner schedule list`)") }
        return s
    }

    static func nextSlots(_ s: Schedule, count: Int, after: Millis) -> [Millis] {
        guard let cron = try? CronExpression(s.cron), let zone = TimeZone(identifier: s.zone) else { return [] }
        var out: [Millis] = []
        var cursor = max(after, s.firedThrough)
        while out.count < count, let next = cron.next(after: cursor, in: zone) { out.append(next); cursor = next }
        return out
    }

    static func local(_ ms: Millis, _ zone: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: zone)
        // Foundation names UTC "GMT"; a zone is shown as the user wrote it when it is UTC.
        f.dateFormat = zone == "UTC" || zone == "Etc/UTC" ? "yyyy-MM-dd HH:mm:ss 'UTC'" : "yyyy-MM-dd HH:mm:ss zzz"
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}

struct ScheduleAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a schedule (serve fires it from the next slot on).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name (lowercase letters, digits, '.', '_', '-').") var name: String
    @Option(help: "The cron expression: 5 or 6 fields, @hourly, @daily, @weekly, @monthly, @yearly or @every DURATION.") var cron: String
    @Option(help: "The IANA time zone of its wall clock (default: this machine's).") var tz: String?
    @Option(help: "The type of the events it fires.") var eventType: String = Schedule.defaultEventType
    @Option(help: "A JSON object merged into each event's data.") var data: String?
    @Option(help: "The stack of its events.") var stack: String?
    @Option(help: "Slots missed while serve was down: skip, once or all.") var catchUp: String = Schedule.CatchUp.skip.rawValue
    @Option(help: "At most this many missed slots are fired (all) or reported (skip), the most recent.") var maxCatchUp: Int = Schedule.defaultMaxCatchUp

    func run() async throws {
        try await global.withStore { store in
            try SourceThingName.validate(name, what: "schedule")
            _ = try CronExpression(cron)
            let zone = try ScheduleCommand.zone(tz)
            guard let policy = Schedule.CatchUp(rawValue: catchUp.lowercased()) else {
                throw SlothError.invalidInput("--catch-up must be skip, once or all, not '\(catchUp)'")
            }
            guard (1...10_000).contains(maxCatchUp) else { throw SlothError.invalidInput("--max-catch-up must be 1-10000, not \(maxCatchUp)") }
            var payload = JSONValue.object([:])
            if let data {
                do { payload = try JSONValue.parse(data) } catch { throw SlothError.invalidInput("--data is not JSON: \(error)") }
                guard case .object = payload else { throw SlothError.invalidInput("--data must be a JSON object, as in '{\"target\":\"db\"}'") }
            }
            // The event it will fire, checked now rather than at 02:30.
            do { _ = try NewEvent(type: eventType, data: payload, stack: stack).validated() } catch {
                throw SlothError.invalidInput("the events of this schedule would be refused: \(error)")
            }
            let schedule = Schedule(
                name: name, cron: cron.trimmingCharacters(in: .whitespaces), zone: tz ?? zone.identifier, eventType: eventType, data: payload,
                stack: stack, catchUp: policy, maxCatchUp: maxCatchUp, createdAt: nowMillis())
            try await store.scheduleAdd(schedule)
            try await ScheduleCommand.announce(store, "schedule.created", [
                "schedule_name": .string(name), "schedule_id": .string(schedule.id), "cron_expr": .string(schedule.cron),
                "timezone": .string(schedule.zone), "workflow_name": .null, "created_by": .string(ScheduleCommand.actor),
            ])
            let next = ScheduleCommand.nextSlots(schedule, count: 1, after: nowMillis()).first
            if global.json { printJSON(schedule.json); return }
            print("Schedule '\(name)' added (\(schedule.cron), \(schedule.zone)); next: \(next.map { ScheduleCommand.local($0, schedule.zone) } ?? "never").")
        }
    }
}

struct ScheduleList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List schedules with their next slot.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.withStore { store in
            let all = try await store.scheduleList()
            let now = nowMillis()
            if global.json {
                printJSON(.array(all.map { s in
                    guard case .object(var o) = s.json else { return s.json }
                    o["next"] = ScheduleCommand.nextSlots(s, count: 1, after: now).first.map { .string(RFC3339.string(millis: $0)) } ?? .null
                    return .object(o)
                }))
                return
            }
            if all.isEmpty { print("No schedules. Add one with `sloth-runner schedule add NAME --cron 'EXPR'`."); return }
            var t = Table(["Name", "Cron", "Zone", "Event type", "Enabled", "Catch-up", "Next"])
            for s in all {
                let next = s.enabled ? ScheduleCommand.nextSlots(s, count: 1, after: now).first.map { ScheduleCommand.local($0, s.zone) } ?? "never" : "-"
                t.add([s.name, s.cron, s.zone, s.eventType, s.enabled ? "yes" : "no", s.catchUp.rawValue, next])
            }
            print(t.render(headers: !global.noHeaders))
        }
    }
}

struct ScheduleGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a schedule.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name.") var name: String

    func run() async throws {
        try await global.withStore { store in
            let s = try await ScheduleCommand.find(store, name)
            if global.json { printJSON(s.json); return }
            print("Name:          \(s.name) (\(s.id))")
            print("Cron:          \(s.cron)")
            print("Time zone:     \(s.zone)")
            print("Event type:    \(s.eventType)")
            print("Data:          \(s.data.serialized())")
            print("Stack:         \(s.stack ?? "-")")
            print("Enabled:       \(s.enabled ? "yes" : "no")")
            print("Catch-up:      \(s.catchUp.rawValue) (at most \(s.maxCatchUp))")
            print("Handled up to: \(RFC3339.string(millis: s.firedThrough))")
            print("Next:          \(ScheduleCommand.nextSlots(s, count: 1, after: nowMillis()).first.map { ScheduleCommand.local($0, s.zone) } ?? "never")")
        }
    }
}

struct ScheduleRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a schedule; it fires no more.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name.") var name: String

    func run() async throws {
        try await global.withStore { store in
            guard try await store.scheduleRemove(name: name) else { throw SlothError.notFound("no schedule named '\(name)' (see `sloth-runner schedule list`)") }
            try await ScheduleCommand.announce(store, "schedule.deleted", ["schedule_name": .string(name), "deleted_by": .string(ScheduleCommand.actor)])
            if global.json { printJSON(.object(["name": .string(name), "removed": .bool(true)])) } else { print("Schedule '\(name)' removed.") }
        }
    }
}

struct ScheduleEnable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enable", abstract: "Enable a schedule; the slots of the time it was off are not caught up.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name.") var name: String
    func run() async throws { try await ScheduleToggle.set(global, name, enabled: true) }
}

struct ScheduleDisable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "disable", abstract: "Disable a schedule; it fires nothing until enabled.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name.") var name: String
    func run() async throws { try await ScheduleToggle.set(global, name, enabled: false) }
}

enum ScheduleToggle {
    static func set(_ global: GlobalOptions, _ name: String, enabled: Bool) async throws {
        try await global.withStore { store in
            let before = try await ScheduleCommand.find(store, name)
            _ = try await store.scheduleSetEnabled(name: name, enabled: enabled, now: nowMillis())
            if before.enabled != enabled {
                let word = enabled ? "enabled" : "disabled"
                try await ScheduleCommand.announce(store, "schedule." + word, ["schedule_name": .string(name), word + "_by": .string(ScheduleCommand.actor)])
            }
            let after = try await ScheduleCommand.find(store, name)
            if global.json { printJSON(after.json) } else {
                print("Schedule '\(name)' \(enabled ? "enabled" : "disabled")\(before.enabled == enabled ? " (it was already)" : "").")
            }
        }
    }
}

struct ScheduleNext: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next", abstract: "Print a schedule's next slots, in its zone and in UTC.",
        discussion: "Example: sloth-runner schedule next backup --count 5")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name.") var name: String
    @Option(help: "How many slots (1-1000).") var count: Int = 5

    func run() async throws {
        try await global.withStore { store in
            guard (1...1000).contains(count) else { throw SlothError.invalidInput("--count must be 1-1000, not \(count)") }
            let s = try await ScheduleCommand.find(store, name)
            let slots = ScheduleCommand.nextSlots(s, count: count, after: nowMillis())
            if global.json { printJSON(.array(slots.map { .string(RFC3339.string(millis: $0)) })); return }
            if slots.isEmpty { print("'\(name)' has no slot in the next 30 years."); return }
            if !s.enabled { warn("'\(name)' is disabled: these slots fire only once it is enabled") }
            var t = Table(["Local (\(s.zone))", "UTC"])
            for slot in slots { t.add([ScheduleCommand.local(slot, s.zone), RFC3339.string(millis: slot)]) }
            print(t.render(headers: !global.noHeaders))
        }
    }
}
