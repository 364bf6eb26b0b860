/// Where an event is in its life.
public enum EventStatus: String, Sendable, CaseIterable, Codable {
    case pending, processing, completed, failed
}

/// An event as stored: what was dispatched plus what the engine did with it.
public struct Event: Sendable, Equatable {
    public var id: String
    public var type: String
    public var stack: String?
    public var timestamp: Millis
    public var data: JSONValue
    public var status: EventStatus
    public var error: String?
    public var createdAt: Millis
    public var processedAt: Millis?
    /// How many times the event has been claimed for processing.
    public var attempts: Int
    /// The event whose hook dispatched this one, and how deep that chain is (0 for a root).
    public var parentID: String?
    public var chainDepth: Int
    public var nextRunAt: Millis
    public var leaseOwner: String?
    public var leaseExpiresAt: Millis?
    /// `data` already serialized by validation, so the store does not encode it a second time.
    public var encodedData: String?

    public init(
        id: String, type: String, stack: String?, timestamp: Millis, data: JSONValue,
        status: EventStatus = .pending, error: String? = nil, createdAt: Millis,
        processedAt: Millis? = nil, attempts: Int = 0, parentID: String? = nil, chainDepth: Int = 0,
        nextRunAt: Millis? = nil, leaseOwner: String? = nil, leaseExpiresAt: Millis? = nil
    ) {
        self.id = id
        self.type = type
        self.stack = stack
        self.timestamp = timestamp
        self.data = data
        self.status = status
        self.error = error
        self.createdAt = createdAt
        self.processedAt = processedAt
        self.attempts = attempts
        self.parentID = parentID
        self.chainDepth = chainDepth
        self.nextRunAt = nextRunAt ?? createdAt
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "type": .string(type), "timestamp": .int(timestamp), "data": data,
            "status": .string(status.rawValue), "created_at": .int(createdAt),
            "attempts": .int(Int64(attempts)), "chain_depth": .int(Int64(chainDepth)),
        ]
        o["stack"] = stack.map(JSONValue.string) ?? .null
        o["error"] = error.map(JSONValue.string) ?? .null
        o["processed_at"] = processedAt.map(JSONValue.int) ?? .null
        o["parent_id"] = parentID.map(JSONValue.string) ?? .null
        return .object(o)
    }
}

/// What a caller hands to `dispatch`: validated before anything is stored.
public struct NewEvent: Sendable {
    public var type: String
    public var data: JSONValue
    public var stack: String?
    public var parentID: String?
    public var chainDepth: Int

    public static let defaultMaxDataBytes = 1 << 20

    public init(type: String, data: JSONValue = .object([:]), stack: String? = nil, parentID: String? = nil, chainDepth: Int = 0) {
        self.type = type
        self.data = data
        self.stack = stack
        self.parentID = parentID
        self.chainDepth = chainDepth
    }

    /// Checks the type name, that data is an object, its size, and the stack name.
    /// Returns the serialized data so it is encoded once.
    public func validated(maxDataBytes: Int = defaultMaxDataBytes) throws(SlothError) -> String {
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

public enum StackName {
    public static func validate(_ name: String) throws(SlothError) {
        guard !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E })
        else {
            throw .invalidInput("stack name '\(name)' must be 1-64 characters of letters, digits, '_', '-' or '.'")
        }
    }
}
