/// The one rule of `state.incr`, for every store and for `hook test`'s stand-ins: an absent (or
/// null) value counts as 0, an integer is added to, anything else is refused, and a sum past
/// Int64 is refused rather than wrapped or trapped.
package enum StateIncrement {
    package static func sum(_ current: JSONValue?, by: Int64, key: String) throws(SlothError) -> Int64 {
        let base: Int64
        switch current {
        case nil, .null?: base = 0
        case .int(let i)?: base = i
        case let other?: throw .invalidInput("state \(key) holds a \(other.typeName), not an integer")
        }
        let (sum, overflow) = base.addingReportingOverflow(by)
        if overflow { throw .invalidInput("state \(key) would overflow") }
        return sum
    }
}
