/// Where an event is in its life.
public enum EventStatus: String, Sendable, CaseIterable, Codable {
    case pending, processing, completed, failed
}

/// An event as stored: what was dispatched plus what the engine did with it.
///
/// A value with its fields in one shared, immutable box: on its way an event is handed from
/// the dispatcher to the run queue, the insert, the hook and the outcome, often across threads,
/// and copying a struct of its fields costs a retain (and later a release) per field each time.
/// Copies share the box; a setter puts the changed fields in a new one.
public struct Event: Sendable, Equatable {
    struct Fields: Sendable, Equatable {
        var id: String
        var type: String
        var stack: String?
        var timestamp: Millis
        var data: JSONValue
        var status: EventStatus
        var error: String?
        var createdAt: Millis
        var processedAt: Millis?
        var attempts: Int
        var parentID: String?
        var chainDepth: Int
        var nextRunAt: Millis
        var leaseOwner: String?
        var leaseExpiresAt: Millis?
        var encodedData: String?
        var replay: ReplayMark?
    }

    private final class Box: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    private mutating func update(_ change: (inout Fields) -> Void) {
        var fields = box.fields
        change(&fields)
        box = Box(fields)
    }

    /// The event's id: time-ordered (a millisecond timestamp, then randomness), so ids sort by creation.
    public package(set) var id: String {
        get { box.fields.id }
        set { update { $0.id = newValue } }
    }
    /// The event type, such as `task.failed` or `custom.deploy_done`.
    public package(set) var type: String {
        get { box.fields.type }
        set { update { $0.type = newValue } }
    }
    /// The stack (environment or tenant) the event belongs to; hooks bound to another stack do not see it.
    public package(set) var stack: String? {
        get { box.fields.stack }
        set { update { $0.stack = newValue } }
    }
    /// When the event happened, in Unix milliseconds (as given at dispatch).
    public package(set) var timestamp: Millis {
        get { box.fields.timestamp }
        set { update { $0.timestamp = newValue } }
    }
    /// The event's payload: a JSON object.
    public package(set) var data: JSONValue {
        get { box.fields.data }
        set { update { $0.data = newValue } }
    }
    /// Where the event is in its life.
    public package(set) var status: EventStatus {
        get { box.fields.status }
        set { update { $0.status = newValue } }
    }
    /// Why the event failed (its hooks' last errors), if it did.
    public package(set) var error: String? {
        get { box.fields.error }
        set { update { $0.error = newValue } }
    }
    /// When the event was stored, in Unix milliseconds.
    public package(set) var createdAt: Millis {
        get { box.fields.createdAt }
        set { update { $0.createdAt = newValue } }
    }
    /// When the engine finished with it (completed or failed), in Unix milliseconds.
    public package(set) var processedAt: Millis? {
        get { box.fields.processedAt }
        set { update { $0.processedAt = newValue } }
    }
    /// How many times the event has been claimed for processing.
    public package(set) var attempts: Int {
        get { box.fields.attempts }
        set { update { $0.attempts = newValue } }
    }
    /// The event whose hook dispatched this one, and how deep that chain is (0 for a root).
    public package(set) var parentID: String? {
        get { box.fields.parentID }
        set { update { $0.parentID = newValue } }
    }
    /// How many hook dispatches led to this event (0: dispatched from outside).
    public package(set) var chainDepth: Int {
        get { box.fields.chainDepth }
        set { update { $0.chainDepth = newValue } }
    }
    /// When a pending event is due (later than `createdAt` while a retry waits).
    public package(set) var nextRunAt: Millis {
        get { box.fields.nextRunAt }
        set { update { $0.nextRunAt = newValue } }
    }
    /// The engine holding a lease on the event while processing it.
    public package(set) var leaseOwner: String? {
        get { box.fields.leaseOwner }
        set { update { $0.leaseOwner = newValue } }
    }
    /// When that lease runs out unless renewed.
    public package(set) var leaseExpiresAt: Millis? {
        get { box.fields.leaseExpiresAt }
        set { update { $0.leaseExpiresAt = newValue } }
    }
    /// Set when the event is a replay of another (`events replay`): which, for which hooks, by whom.
    public package(set) var replay: ReplayMark? {
        get { box.fields.replay }
        set { update { $0.replay = newValue } }
    }
    /// `data` already serialized by validation, so the store does not encode it a second time.
    package var encodedData: String? {
        get { box.fields.encodedData }
        set { update { $0.encodedData = newValue } }
    }

    package init(
        id: String, type: String, stack: String?, timestamp: Millis, data: JSONValue,
        status: EventStatus = .pending, error: String? = nil, createdAt: Millis,
        processedAt: Millis? = nil, attempts: Int = 0, parentID: String? = nil, chainDepth: Int = 0,
        nextRunAt: Millis? = nil, leaseOwner: String? = nil, leaseExpiresAt: Millis? = nil, encodedData: String? = nil,
        replay: ReplayMark? = nil
    ) {
        box = Box(
            Fields(
                id: id, type: type, stack: stack, timestamp: timestamp, data: data, status: status, error: error,
                createdAt: createdAt, processedAt: processedAt, attempts: attempts, parentID: parentID, chainDepth: chainDepth,
                nextRunAt: nextRunAt ?? createdAt, leaseOwner: leaseOwner, leaseExpiresAt: leaseExpiresAt, encodedData: encodedData,
                replay: replay))
    }

    /// Equal when every field is.
    public static func == (a: Event, b: Event) -> Bool { a.box === b.box || a.box.fields == b.box.fields }

    /// The event as JSON, in the shape `sloth-runner ... -o json` prints (docs/cli-json.md).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "type": .string(type), "data": data,
            "status": .string(status.rawValue), "attempts": .int(Int64(attempts)), "chain_depth": .int(Int64(chainDepth)),
        ]
        JSONValue.stamp(&o, "timestamp", timestamp)
        JSONValue.stamp(&o, "created_at", createdAt)
        JSONValue.stamp(&o, "processed_at", processedAt)
        JSONValue.stamp(&o, "next_run_at", status == .pending ? nextRunAt : nil)
        o["stack"] = stack.map(JSONValue.string) ?? .null
        o["error"] = error.map(JSONValue.string) ?? .null
        o["parent_id"] = parentID.map(JSONValue.string) ?? .null
        o["replay"] = replay?.json ?? .null
        return .object(o)
    }
}

/// What a caller hands to `dispatch`: validated before anything is stored.
public struct NewEvent: Sendable {
    /// The event type: dotted lowercase words (`task.failed`, `custom.backup_done`).
    public var type: String
    /// The payload: must be a JSON object, at most `EngineConfiguration.maxDataBytes` serialized.
    public var data: JSONValue
    /// The stack the event belongs to, if any.
    public var stack: String?
    /// For an event a hook dispatched: the parent event and the chain's depth.
    package var parentID: String?
    package var chainDepth: Int
    /// For an event a hook dispatched: `parent/hook/position`, which the store keeps unique, so
    /// a parent run again stores each child once (see `EventStoreDriver.insertChildEvent`).
    package var originKey: String?
    /// With `originKey` an idempotency key: how long it holds (a repeat within it returns the
    /// first event; after it the key is free again). Nil: for as long as the event is kept.
    package var keyWindowMillis: Int64?

    /// The default bound on an event's serialized data: 1 MiB.
    public static let defaultMaxDataBytes = 1 << 20

    /// An event to dispatch from outside the engine.
    public init(type: String, data: JSONValue = .object([:]), stack: String? = nil) {
        self.init(type: type, data: data, stack: stack, parentID: nil, chainDepth: 0, originKey: nil)
    }

    /// An event a hook dispatched, with its lineage.
    package init(
        type: String, data: JSONValue = .object([:]), stack: String? = nil, parentID: String?, chainDepth: Int,
        originKey: String? = nil
    ) {
        self.type = type
        self.data = data
        self.stack = stack
        self.parentID = parentID
        self.chainDepth = chainDepth
        self.originKey = originKey
    }

    /// Checks the type name, that data is an object, its size, and the stack name.
    /// Returns the serialized data so it is encoded once.
    package func validated(maxDataBytes: Int = defaultMaxDataBytes) throws(SlothError) -> String {
        try EventTypeName.validate(type)
        guard case .object = data else {
            throw .invalidInput("event data must be a JSON object, got \(data.typeName)")
        }
        if let stack { try StackName.validate(stack) }
        let text = data.serialized()
        if text.utf8.count > maxDataBytes {
            throw .invalidInput("event data is \(text.utf8.count) bytes; the limit is \(maxDataBytes) bytes (raise it with --max-data-bytes)")
        }
        return text
    }
}

/// An idempotency key (`events dispatch --idempotency-key`, the API's `Idempotency-Key`
/// header, `event.dispatch(..., {idempotency_key = K})`): one key, one event, within a window.
package enum IdempotencyKey {
    /// How long a key holds unless told otherwise: 24 hours (as Stripe's keys do).
    package static let defaultWindowMillis: Int64 = 24 * 3_600_000

    /// 1 to 255 printable ASCII characters without spaces.
    package static func validate(_ key: String, field: String) throws(SlothError) {
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw .invalidInput("\(field) must be 1 to 255 printable characters without spaces")
        }
    }

    /// The origin key the store keeps unique for it (shared by every way in, so a key used by
    /// the CLI and then the API names one event).
    package static func origin(_ key: String) -> String { "idempotency:" + key }

    /// Why `first` (stored under the key) is not the event asked for now, or nil when it is.
    package static func reuse(of key: String, first: Event, for new: NewEvent) -> String? {
        guard first.type != new.type || first.stack != new.stack || first.data != new.data else { return nil }
        return "idempotency key '\(key)' was used for a different event (\(first.id), \(first.type)); use a new key for a new event"
    }
}

package enum StackName {
    package static func validate(_ name: String) throws(SlothError) {
        guard !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E })
        else {
            throw .invalidInput("stack name '\(name)' must be 1-64 characters of letters, digits, '_', '-' or '.'")
        }
    }
}
