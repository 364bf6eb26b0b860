import SlothRunner

/// Which journal entries a stream sends: `type` (patterns, comma-separated, as hooks use
/// them), `stack`, `status` (status changes to these statuses — and then nothing else unless
/// `kind` asks for it), `kind` (status, execution, deleted).
struct StreamFilter {
    var types: [EventPattern] = []
    var stack: String?
    var statuses: Set<EventStatus> = []
    var kinds: Set<EventChange.Kind> = [.status, .execution, .deleted]

    static let parameters: Set<String> = ["type", "stack", "status", "kind", "last_event_id"]

    init(_ query: QueryParameters) throws(APIError) {
        if let raw = query.text("type") {
            for text in raw.split(separator: ",").map({ String($0).trimmingSpaces }) where !text.isEmpty {
                do { types.append(try EventPattern(text)) } catch {
                    throw APIError.badRequest("invalid_parameter", "type: \(error.description)")
                }
            }
        }
        stack = query.text("stack")
        if let raw = query.text("status") {
            for text in raw.split(separator: ",").map({ String($0).trimmingSpaces }) where !text.isEmpty {
                guard let status = EventStatus(rawValue: text) else {
                    throw APIError.badRequest(
                        "invalid_parameter", "status must be among \(EventStatus.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
                }
                statuses.insert(status)
            }
            if !statuses.isEmpty { kinds = [.status] }
        }
        if let raw = query.text("kind") {
            kinds = []
            for text in raw.split(separator: ",").map({ String($0).trimmingSpaces }) where !text.isEmpty {
                guard let kind = EventChange.Kind(rawValue: text) else {
                    throw APIError.badRequest("invalid_parameter", "kind must be among status, execution, deleted, not '\(text)'")
                }
                kinds.insert(kind)
            }
        }
    }

    func admits(_ change: EventChange) -> Bool {
        guard kinds.contains(change.kind) else { return false }
        if let stack, change.stack != stack { return false }
        if !types.isEmpty, !types.contains(where: { $0.matches(change.type) }) { return false }
        if change.kind == .status, !statuses.isEmpty {
            guard let status = change.status, statuses.contains(status) else { return false }
        }
        return true
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
