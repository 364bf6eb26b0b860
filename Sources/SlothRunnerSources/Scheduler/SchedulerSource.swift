import Foundation
import SlothRunner

/// Fires the store's schedules. Each slot's events are stored in the same transaction that
/// moves the schedule's mark past the slot (`Engine.fireSchedule`), so a slot fires exactly
/// once whatever crashes: killed before the commit, the slot is still due at the next start;
/// after it, it is done. Slots found more than `lateMillis` in the past when their turn comes
/// (the daemon was down) follow the schedule's catch-up policy. Idle cost: one version read
/// per `pollMillis` and a sleep until the nearest slot.
public struct SchedulerSource: EventSourcePlugin {
    public let name = "scheduler"
    public let kind = "scheduler"
    /// One node fires the schedules (each slot fires once anyway, by its mark; this saves the others the work).
    public var runsOnOneNode: Bool { true }
    /// How often changes made by the CLI are looked for.
    let pollMillis: Int64
    /// How late a slot may be and still fire as usual (a restart within it is not downtime).
    let lateMillis: Int64
    /// At most this many slots are walked per schedule per round (a second-by-second schedule
    /// down for a week); the mark then moves to now.
    static let walkLimit = 200_000

    public init(pollMillis: Int64 = 1000, lateMillis: Int64 = 60_000) {
        self.pollMillis = pollMillis
        self.lateMillis = lateMillis
    }

    struct Plan {
        var schedule: Schedule
        let cron: CronExpression
        let zone: TimeZone
        var next: Millis?
    }

    public func run(_ context: SourceContext) async throws {
        let schedules = context.schedules
        var version: Int64 = -1
        var plans: [Plan] = []
        while true {
            try Task.checkCancellation()
            let current = try await schedules.schedulesVersion()
            if current != version {
                version = current
                plans = try await load(context)
            }
            let now = context.clock.now()
            var reload = false
            for i in plans.indices {
                guard let next = plans[i].next, next <= now else { continue }
                if let moved = try await fire(plans[i], now: now, context) {
                    plans[i].schedule.firedThrough = moved
                    plans[i].next = plans[i].cron.next(after: moved, in: plans[i].zone)
                } else {
                    reload = true  // changed under us: read it again
                }
            }
            if reload { version = -1; continue }
            let soonest = plans.compactMap(\.next).min() ?? Millis.max
            try await context.clock.sleep(until: min(soonest, now + pollMillis))
        }
    }

    func load(_ context: SourceContext) async throws -> [Plan] {
        var plans: [Plan] = []
        var problems: [String] = []
        for s in try await context.schedules.scheduleList() where s.enabled {
            do {
                let cron = try CronExpression(s.cron)
                guard let zone = TimeZone(identifier: s.zone) else { throw SlothError.invalidInput("unknown time zone '\(s.zone)'") }
                plans.append(Plan(schedule: s, cron: cron, zone: zone, next: cron.next(after: s.firedThrough, in: zone)))
            } catch {
                problems.append("schedule \(s.name): \(error)")
            }
        }
        if problems.isEmpty { context.running() } else {
            context.failing(problems.joined(separator: "; "))
            context.logger.error("scheduler: \(problems.joined(separator: "; ")); the other schedules run")
        }
        return plans
    }

    /// Fires what is due of `plan` at `now`; the new mark, or nil if the schedule changed.
    func fire(_ plan: Plan, now: Millis, _ context: SourceContext) async throws -> Millis? {
        let s = plan.schedule
        let keep = max(1, s.maxCatchUp)
        var recent: [Millis] = [], missed: [Millis] = [], missedTotal = 0
        var cursor = s.firedThrough
        var walked = 0
        var last = s.firedThrough
        while walked < Self.walkLimit, let slot = plan.cron.next(after: cursor, in: plan.zone), slot <= now {
            walked += 1
            cursor = slot
            last = slot
            if now - slot <= lateMillis {
                recent.append(slot)
            } else {
                missedTotal += 1
                missed.append(slot)
                // Only the most recent `keep` matter; trimmed in halves, not one by one.
                if missed.count >= 2 * keep { missed.removeFirst(missed.count - keep) }
            }
        }
        if missed.count > keep { missed.removeFirst(missed.count - keep) }
        if walked == Self.walkLimit { last = now }
        guard walked > 0 else { return s.firedThrough }
        var events: [NewEvent] = []
        func event(_ type: String, _ fields: [String: JSONValue]) -> NewEvent {
            var data: [String: JSONValue] = [:]
            if case .object(let extra) = s.data { data = extra }
            data["schedule_name"] = .string(s.name)
            data["schedule_id"] = .string(s.id)
            data["source"] = .string(name)
            for (k, v) in fields { data[k] = v }
            return NewEvent(type: type, data: .object(data), stack: s.stack)
        }
        let firedTime = JSONValue.string(RFC3339.string(millis: now))
        func triggered(_ slot: Millis, catchUp: Bool) -> NewEvent {
            event(s.eventType, [
                "scheduled_time": .string(RFC3339.string(millis: slot)), "fired_time": firedTime, "cron_expr": .string(s.cron),
                "timezone": .string(s.zone), "catch_up": .bool(catchUp), "workflow_name": .null,
            ])
        }
        if !missed.isEmpty {
            switch s.catchUp {
            case .skip:
                for slot in missed {
                    events.append(event("schedule.missed", [
                        "expected_time": .string(RFC3339.string(millis: slot)), "actual_time": firedTime, "missed_total": .int(Int64(missedTotal)),
                    ]))
                }
            case .once:
                var e = triggered(missed[missed.count - 1], catchUp: true)
                e.data = mergeField(e.data, "missed_total", .int(Int64(missedTotal)))
                events.append(e)
            case .all:
                for slot in missed {
                    var e = triggered(slot, catchUp: true)
                    e.data = mergeField(e.data, "missed_total", .int(Int64(missedTotal)))
                    events.append(e)
                }
            }
            context.logger.notice("schedule \(s.name): \(missedTotal) slot(s) missed while no scheduler ran (catch-up \(s.catchUp.rawValue))",
                                  metadata: ["schedule": "\(s.name)"])
        }
        for slot in recent { events.append(triggered(slot, catchUp: false)) }
        guard try await context.engine.fireSchedule(name: s.name, from: s.firedThrough, through: last, events: events) else { return nil }
        var byType: [String: Int] = [:]
        for e in events { byType[e.type, default: 0] += 1 }
        for (type, count) in byType.sorted(by: { $0.key < $1.key }) { context.counted(count, type: type) }
        return last
    }

    private func mergeField(_ data: JSONValue, _ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var o) = data else { return data }
        o[key] = value
        return .object(o)
    }
}
