/// One entry of the store's change journal: an event changed status, a hook ran for it, or it
/// was deleted. `seq` numbers the entries in commit order, across every process writing the
/// store, so "everything after N" is exact (`GET /stream` with `Last-Event-ID`).
package struct EventChange: Sendable, Equatable {
    package enum Kind: String, Sendable {
        /// The event took `status` (stored, claimed, finished, retried, rescued).
        case status
        /// A hook ran for the event: `execution` says how.
        case execution
        /// The event was deleted (one by one; retention and cleanup sweeps are not journaled).
        case deleted
    }

    /// What a journal row records: `deleted` in its status column, a run when it names an
    /// execution, else a status change (the same columns in every store).
    package static func kind(status: String?, executionID: Int64?) -> Kind {
        status == "deleted" ? .deleted : (executionID != nil ? .execution : .status)
    }

    package var seq: Int64
    /// When the change was committed, Unix milliseconds.
    package var at: Millis
    package var kind: Kind
    package var eventID: String
    /// The event's type and stack (kept with a deletion; read from the event otherwise).
    package var type: String
    package var stack: String?
    /// The status this change gave the event (`kind == .status`).
    package var status: EventStatus?
    /// The event as it is now (nil once deleted): what a client shows next to the change.
    package var event: Event?
    package var execution: HookExecution?

    package init(
        seq: Int64, at: Millis, kind: Kind, eventID: String, type: String, stack: String?, status: EventStatus?, event: Event?,
        execution: HookExecution?
    ) {
        self.seq = seq
        self.at = at
        self.kind = kind
        self.eventID = eventID
        self.type = type
        self.stack = stack
        self.status = status
        self.event = event
        self.execution = execution
    }

    /// A journal row as every store reads it back: the kind from its columns, the type and stack
    /// kept with a deletion or else read from the event, the status only for a status change.
    package init(
        journalSeq seq: Int64, at: Millis, eventID: String, status: String?, executionID: Int64?, type: String?, stack: String?,
        event: Event?, execution: HookExecution?
    ) {
        let kind = EventChange.kind(status: status, executionID: executionID)
        self.init(
            seq: seq, at: at, kind: kind, eventID: eventID, type: type ?? event?.type ?? "", stack: stack ?? event?.stack,
            status: kind == .status ? status.flatMap(EventStatus.init(rawValue:)) : nil, event: event, execution: execution)
    }

    /// The message `GET /stream` sends: `{seq, at, kind, event_id, type, stack, status?, event?, execution?}`.
    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "seq": .int(seq), "kind": .string(kind.rawValue), "event_id": .string(eventID),
            "type": .string(type), "stack": stack.map(JSONValue.string) ?? .null,
        ]
        JSONValue.stamp(&o, "at", at)
        if let status { o["status"] = .string(status.rawValue) }
        if case .object(var fields)? = event?.json {
            // The payload can be large (1 MiB); a live view wants the state, and asks for the
            // data with GET /events/{id} when it needs it (the journal does not read it).
            fields.removeValue(forKey: "data")
            o["event"] = .object(fields)
        }
        if let execution { o["execution"] = execution.json }
        return .object(o)
    }
}
