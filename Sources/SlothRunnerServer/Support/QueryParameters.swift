import Foundation
import Hummingbird
import SlothRunner

/// A request's query parameters, checked: an unknown one is an error with a suggestion (a
/// misspelt `stauts=failed` must not silently list every event), and each value is parsed with
/// an error naming the parameter.
struct QueryParameters {
    private let values: [String: String]

    init(_ request: Request, known: Set<String>) throws(APIError) {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard known.contains(name) else {
                let hint = Hint.didYouMean(name, among: known)
                throw APIError.badRequest("invalid_parameter", "unknown query parameter '\(name)'\(hint); known: \(known.sorted().joined(separator: ", "))")
            }
            values[name] = String(value)  // already percent-decoded by Hummingbird
        }
        self.values = values
    }

    func text(_ name: String) -> String? { values[name].flatMap { $0.isEmpty ? nil : $0 } }

    func integer(_ name: String, in range: ClosedRange<Int>, default value: Int) throws(APIError) -> Int {
        guard let raw = text(name) else { return value }
        guard let n = Int(raw), range.contains(n) else {
            throw APIError.badRequest("invalid_parameter", "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(raw)'")
        }
        return n
    }

    /// A moment: RFC 3339 (`2026-12-01T10:00:00Z`), Unix milliseconds, or a duration ago (`1h`).
    func moment(_ name: String, now: Millis) throws(APIError) -> Millis? {
        guard let raw = text(name) else { return nil }
        do throws(SlothError) { return try MomentText.millis(raw, for: name, now: now) } catch {
            throw APIError.badRequest("invalid_parameter", error.description)
        }
    }

    func status(_ name: String) throws(APIError) -> EventStatus? {
        guard let raw = text(name) else { return nil }
        guard let status = EventStatus(rawValue: raw) else {
            throw APIError.badRequest("invalid_parameter", "\(name) must be one of \(EventStatus.allCases.map(\.rawValue).joined(separator: ", ")), not '\(raw)'")
        }
        return status
    }
}
