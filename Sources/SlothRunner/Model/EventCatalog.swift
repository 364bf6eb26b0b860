/// The known event types and their payload fields, from the specification's catalog.
package struct EventCatalogEntry: Sendable, Equatable {
    package let type: String
    package let category: String
    package let fields: String
    package let note: String
}

package enum EventCatalog {
    package static let entries: [EventCatalogEntry] = {
        eventCatalogTSV.split(separator: "\n").dropFirst().compactMap { line in
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard cols.count >= 2 else { return nil }
            return EventCatalogEntry(
                type: cols[0], category: cols[1],
                fields: cols.count > 2 ? cols[2] : "", note: cols.count > 3 ? cols[3] : "")
        }
    }()

    package static let knownTypes: Set<String> = Set(entries.map(\.type))

    package static func isKnown(_ type: String) -> Bool { knownTypes.contains(type) }

    /// The known type closest to `type` by edit distance, if it is close enough to be a typo.
    package static func nearest(to type: String) -> String? {
        var best: (String, Int)?
        for known in entries.map(\.type) {
            let d = editDistance(type, known)
            if best == nil || d < best!.1 { best = (known, d) }
        }
        guard let (name, distance) = best, distance <= max(2, type.count / 3) else { return nil }
        return name
    }

    /// A warning for a hook's event type that is neither known, a pattern, nor under `custom.`.
    package static func warning(for pattern: EventPattern) -> String? {
        let text = pattern.text
        if pattern.isPattern || isKnown(text) || text == "custom" || text.hasPrefix("custom.") { return nil }
        var message = "event type '\(text)' is not in the catalog (see `sloth-runner events types`)"
        if let near = nearest(to: text) { message += "; did you mean \(near)?" }
        return message
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}

extension EventCatalogEntry {
    /// As `events types -o json` prints it (fields as an array).
    package var json: JSONValue {
        let list = fields.split(separator: ",").map { JSONValue.string($0.trimmingCharacters(in: .whitespaces)) }
        return .object(["type": .string(type), "category": .string(category), "fields": .array(list), "note": .string(note)])
    }
}
