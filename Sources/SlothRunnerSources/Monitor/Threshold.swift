import SlothRunner

/// A condition with a duration and hysteresis: `{above: 90, for: 30s, clear_below: 80}`. It
/// starts once the value has stayed past the limit for the duration, and ends only once the
/// value is back past the clearing level — so one event when it starts, one when it ends,
/// never one per sample.
struct Threshold: Sendable, Equatable {
    /// Whether the condition is a value above the limit (CPU, memory, load, disk) or below
    /// it (available memory).
    enum Direction: Sendable { case above, below }
    let direction: Direction
    let limit: Double
    let forMillis: Int64
    let clearAt: Double

    func past(_ v: Double) -> Bool { direction == .above ? v > limit : v < limit }
    func cleared(_ v: Double) -> Bool { direction == .above ? v < clearAt : v > clearAt }

    /// `{above: N, for: D, clear_below: M}` (or `below`/`clear_above`); `clear_*` defaults to
    /// the limit itself, `for` to 0 (the first sample past it).
    static func parse(_ node: SourceConfigNode, direction: Direction, range: ClosedRange<Double>) throws(SlothError) -> Threshold {
        let limitKey = direction == .above ? "above" : "below"
        let clearKey = direction == .above ? "clear_below" : "clear_above"
        let m = try node.members([limitKey, "for", clearKey], what: "\(limitKey), for and \(clearKey)")
        guard let limitNode = m[limitKey] else { throw node.error("needs \(limitKey)") }
        let limit = try limitNode.number(in: range)
        let clear = try m[clearKey]?.number(in: range) ?? limit
        if direction == .above ? clear > limit : clear < limit {
            throw (m[clearKey] ?? node).error("\(clearKey) (\(clear)) must not be \(direction == .above ? "above" : "below") \(limitKey) (\(limit)): the condition would never clear")
        }
        return Threshold(direction: direction, limit: limit, forMillis: try m["for"]?.millis() ?? 0, clearAt: clear)
    }
}

/// Where one condition stands, sample by sample.
struct ConditionTracker: Sendable {
    enum State: Sendable, Equatable { case normal, pending(since: Millis), active(since: Millis) }
    enum Change: Sendable, Equatable { case started(since: Millis), ended(lasted: Millis) }
    let threshold: Threshold
    private(set) var state = State.normal

    init(_ threshold: Threshold) { self.threshold = threshold }

    mutating func observe(_ value: Double, at now: Millis) -> Change? {
        switch state {
        case .normal:
            guard threshold.past(value) else { return nil }
            if threshold.forMillis == 0 {
                state = .active(since: now)
                return .started(since: now)
            }
            state = .pending(since: now)
            return nil
        case .pending(let since):
            guard threshold.past(value) else { state = .normal; return nil }
            guard now - since >= threshold.forMillis else { return nil }
            state = .active(since: since)
            return .started(since: since)
        case .active(let since):
            guard threshold.cleared(value) else { return nil }
            state = .normal
            return .ended(lasted: now - since)
        }
    }
}
