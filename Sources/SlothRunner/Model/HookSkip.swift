/// A hook that did not run for an event because storm control settled it: throttled (another
/// event of its group ran in the window) or debounced (a later event of the burst runs instead).
/// Recorded with the event's outcome; the hook counts as done for that event.
public struct HookSkip: Sendable, Equatable {
    public var eventID: String
    public var hookID: String
    public var hookName: String
    /// `throttled` or `debounced`.
    public var reason: String
    /// The sentence `events show` and `explain` print.
    public var detail: String
    /// The event that ran instead (throttle) or will (debounce).
    public var relatedEventID: String?
    public var at: Millis

    package init(eventID: String, hookID: String, hookName: String, reason: String, detail: String, relatedEventID: String?, at: Millis) {
        self.eventID = eventID
        self.hookID = hookID
        self.hookName = hookName
        self.reason = reason
        self.detail = detail
        self.relatedEventID = relatedEventID
        self.at = at
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "hook_id": .string(hookID), "hook_name": .string(hookName), "reason": .string(reason), "detail": .string(detail),
            "related_event_id": relatedEventID.map(JSONValue.string) ?? .null,
        ]
        JSONValue.stamp(&o, "at", at)
        return .object(o)
    }
}

/// One row of storm-control state: what a control of a hook knows of one group (the event
/// holding a throttle window, a rate limit's next slot, the runs holding concurrency slots, a
/// circuit's state). Changed only by compare-and-set on `version`, so nodes agree.
package struct ControlState: Sendable, Equatable {
    package var hookID: String
    package var control: String
    package var group: String
    package var value: JSONValue
    package var version: Int64
    package var expiresAt: Millis?
    package var updatedAt: Millis

    package init(hookID: String, control: String, group: String, value: JSONValue, version: Int64, expiresAt: Millis?, updatedAt: Millis) {
        self.hookID = hookID
        self.control = control
        self.group = group
        self.value = value
        self.version = version
        self.expiresAt = expiresAt
        self.updatedAt = updatedAt
    }
}
