/// A hook's condition on event data (`filter = { severity = "critical", ["deploy.env"] =
/// {"production", "staging"} }`): every key is a dotted path into `event.data`, and the event
/// matches when, for every key, the value there equals the given one or one of a given list.
/// A missing path never matches. Numbers compare by value (`3` equals `3.0`).
/// Checked before a run is started, so a hook that does not care costs nothing.
public struct DataFilter: Sendable, Equatable {
    /// One key of the filter and the values it accepts.
    public struct Condition: Sendable, Equatable {
        /// The dotted path as written (`deploy.env`).
        public var path: String
        /// Accepted values: scalars only (string, number, boolean).
        public var accepted: [JSONValue]
        fileprivate var segments: [String]
    }

    /// The conditions, every one of which must hold.
    public private(set) var conditions: [Condition]

    /// Parses the `filter` field of a hook's table.
    public static func parse(_ value: JSONValue) throws(SlothError) -> DataFilter {
        guard case .object(let fields) = value else {
            throw .invalidHook("field 'filter' must be a table like { severity = \"critical\" } or { [\"deploy.env\"] = {\"production\", \"staging\"} }")
        }
        var conditions: [Condition] = []
        for (path, expected) in fields.sorted(by: { $0.key < $1.key }) {
            let segments = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.isEmpty, !segments.contains(where: \.isEmpty) else {
                throw .invalidHook("filter key '\(path)' must be a dotted path into the event data, like \"deploy.env\"")
            }
            var accepted: [JSONValue]
            switch expected {
            case .array(let list):
                guard !list.isEmpty else { throw .invalidHook("filter '\(path)' lists no values") }
                accepted = list
            default:
                accepted = [expected]
            }
            for v in accepted where !v.isScalar {
                throw .invalidHook("filter '\(path)' must be a string, number or boolean (or a list of them), found \(v.typeName)")
            }
            conditions.append(Condition(path: path, accepted: accepted, segments: segments))
        }
        guard !conditions.isEmpty else { throw .invalidHook("field 'filter' is empty; remove it or name a data field") }
        return DataFilter(conditions: conditions)
    }

    /// Whether the event data satisfies every condition.
    public func matches(_ data: JSONValue) -> Bool {
        conditions.allSatisfy { condition in
            var current = data
            for segment in condition.segments {
                guard case .object(let o) = current, let next = o[segment] else { return false }
                current = next
            }
            return condition.accepted.contains { Self.same($0, current) }
        }
    }

    /// The first condition the data does not satisfy, with what the data holds there (nil: the
    /// path is missing) — what `events explain` says of a hook its filter kept out.
    public func firstUnmet(in data: JSONValue) -> (condition: Condition, actual: JSONValue?)? {
        for condition in conditions {
            var current: JSONValue? = data
            for segment in condition.segments {
                guard case .object(let o)? = current else {
                    current = nil
                    break
                }
                current = o[segment]
            }
            guard let actual = current else { return (condition, nil) }
            if !condition.accepted.contains(where: { Self.same($0, actual) }) { return (condition, actual) }
        }
        return nil
    }

    /// As stored and shown: `{"deploy.env":["production","staging"],"severity":"critical"}`.
    public var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: conditions.map { ($0.path, $0.accepted.count == 1 ? $0.accepted[0] : .array($0.accepted)) }))
    }

    private static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        default: return a == b
        }
    }
}

extension JSONValue {
    var isScalar: Bool {
        switch self {
        case .string, .int, .double, .bool: return true
        case .null, .array, .object: return false
        }
    }
}
