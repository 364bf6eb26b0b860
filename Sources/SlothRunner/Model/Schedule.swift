import Foundation

/// A schedule: an event fired on a cron expression's slots (`schedule add`). Its cron text is
/// parsed by the scheduler source; the store keeps what it needs to fire each slot once.
package struct Schedule: Sendable, Equatable {
    /// What a schedule does with slots missed while no engine ran.
    package enum CatchUp: String, Sendable, CaseIterable {
        /// Emit `schedule.missed` for them (at most `maxCatchUp`, the most recent); fire none.
        case skip
        /// Fire the latest missed slot once.
        case once
        /// Fire each missed slot, at most `maxCatchUp` (the most recent), oldest first.
        case all
    }

    package var name: String
    /// A stable id (`sch_` + hex), kept in every event the schedule fires.
    package var id: String
    package var cron: String
    /// An IANA zone (`Europe/Berlin`); the cron's wall clock.
    package var zone: String
    package var eventType: String
    /// Merged into each fired event's data (the schedule's own fields win).
    package var data: JSONValue
    package var stack: String?
    package var catchUp: CatchUp
    package var maxCatchUp: Int
    package var enabled: Bool
    package var createdAt: Millis
    /// Every slot up to this instant is handled (fired, or reported missed); the scheduler moves
    /// it forward in the same transaction as the events it stores, so a slot fires once.
    package var firedThrough: Millis
    /// The config file that declares it (`schedules:`), nil for one added with `schedule add`.
    package var declaredIn: String?

    package static let defaultEventType = "schedule.triggered"
    package static let defaultMaxCatchUp = 10

    package init(
        name: String, id: String = Schedule.newID(), cron: String, zone: String, eventType: String = Schedule.defaultEventType,
        data: JSONValue = .object([:]), stack: String? = nil, catchUp: CatchUp = .skip, maxCatchUp: Int = Schedule.defaultMaxCatchUp,
        enabled: Bool = true, createdAt: Millis, firedThrough: Millis? = nil, declaredIn: String? = nil
    ) {
        self.name = name
        self.id = id
        self.cron = cron
        self.zone = zone
        self.eventType = eventType
        self.data = data
        self.stack = stack
        self.catchUp = catchUp
        self.maxCatchUp = maxCatchUp
        self.enabled = enabled
        self.createdAt = createdAt
        self.firedThrough = firedThrough ?? createdAt
        self.declaredIn = declaredIn
    }

    package static func newID() -> String {
        "sch_" + (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "name": .string(name), "id": .string(id), "cron": .string(cron), "timezone": .string(zone),
            "event_type": .string(eventType), "data": data, "catch_up": .string(catchUp.rawValue),
            "max_catch_up": .int(Int64(maxCatchUp)), "enabled": .bool(enabled),
            "created_at": .string(RFC3339.string(millis: createdAt)), "created_at_ms": .int(createdAt),
            "fired_through": .string(RFC3339.string(millis: firedThrough)), "fired_through_ms": .int(firedThrough),
        ]
        o["stack"] = stack.map(JSONValue.string) ?? .null
        o["declared_in"] = declaredIn.map(JSONValue.string) ?? .null
        return .object(o)
    }
}

/// What a source reports of itself, kept in the store so `sloth-runner sources` (another
/// process) can show it.
package struct SourceStatus: Sendable, Equatable {
    package enum State: String, Sendable {
        case starting, running, failing, stopped
        /// Another node runs it (a source one node runs at a time); this one takes over should
        /// that node stop.
        case standby
    }
    package var name: String
    package var kind: String
    package var state: State
    /// Why it is failing (or the last error), nil when healthy.
    package var error: String?
    package var lastEventAt: Millis?
    package var lastEventType: String?
    package var emitted: Int64
    package var updatedAt: Millis

    package init(name: String, kind: String, state: State, error: String? = nil, lastEventAt: Millis? = nil, lastEventType: String? = nil, emitted: Int64 = 0, updatedAt: Millis) {
        self.name = name
        self.kind = kind
        self.state = state
        self.error = error
        self.lastEventAt = lastEventAt
        self.lastEventType = lastEventType
        self.emitted = emitted
        self.updatedAt = updatedAt
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "name": .string(name), "kind": .string(kind), "state": .string(state.rawValue),
            "emitted": .int(emitted), "updated_at": .string(RFC3339.string(millis: updatedAt)), "updated_at_ms": .int(updatedAt),
        ]
        o["error"] = error.map(JSONValue.string) ?? .null
        o["last_event_at"] = lastEventAt.map { .string(RFC3339.string(millis: $0)) } ?? .null
        o["last_event_at_ms"] = lastEventAt.map(JSONValue.int) ?? .null
        o["last_event_type"] = lastEventType.map(JSONValue.string) ?? .null
        return .object(o)
    }
}
