import Crypto
import Foundation
import Synchronization

/// The journal of one run of a hook with `effects = "once"`: what earlier attempts of it for
/// this event recorded, and where this run records its own. `exec.run` and non-GET `http`
/// calls ask it first (`replay(kind:arguments:)`); one that succeeded (exit 0, HTTP status
/// below 400) is recorded as soon as it returns — before the run's outcome, so a crash right
/// after the call still finds it. A failed call is not recorded: a retry should try it again.
package final class EffectJournal: Sendable {
    package let eventID: String
    package let hookID: String
    package let attempt: Int
    private let earlier: [Int: EffectRecord]
    private let position = Mutex(0)
    private let save: @Sendable (EffectRecord) async throws -> Void
    private let reuse: @Sendable (Int) async throws -> Void

    package init(
        eventID: String, hookID: String, attempt: Int, earlier: [EffectRecord],
        save: @escaping @Sendable (EffectRecord) async throws -> Void, reuse: @escaping @Sendable (Int) async throws -> Void
    ) {
        self.eventID = eventID
        self.hookID = hookID
        self.attempt = attempt
        self.earlier = Dictionary(earlier.map { ($0.position, $0) }, uniquingKeysWith: { a, _ in a })
        self.save = save
        self.reuse = reuse
    }

    /// The journal's stand-in for one call: its position and fingerprint, and the recorded
    /// result when an earlier attempt made the same call there.
    package struct Call: Sendable {
        package let position: Int
        package let kind: String
        package let fingerprint: String
        package let summary: String
        package let recorded: EffectRecord?
    }

    package func call(kind: String, summary: String, arguments: JSONValue) -> Call {
        let n = position.withLock { p in
            p += 1
            return p
        }
        let fingerprint = Hex.encode(SHA256.hash(data: Array((kind + "\n" + arguments.serialized()).utf8)))
        let recorded = earlier[n].flatMap { $0.fingerprint == fingerprint && $0.kind == kind ? $0 : nil }
        return Call(position: n, kind: kind, fingerprint: fingerprint, summary: summary, recorded: recorded)
    }

    /// Keeps a call's result if it succeeded; a write that fails is not the hook's failure
    /// (the call happened), so it only costs the guarantee for that call.
    /// Secrets the run has read are masked in what is kept (the journal is shown by `events
    /// show`); a reused result holds `***` where they were.
    func completed(_ call: Call, result: JSONValue, succeeded: Bool, revealed: RevealedSecrets?) async {
        guard succeeded else { return }
        let mask = revealed?.mask ?? .none
        try? await save(EffectRecord(
            eventID: eventID, hookID: hookID, position: call.position, kind: call.kind, fingerprint: call.fingerprint,
            summary: mask.masked(call.summary), result: Self.masked(result, mask), attempt: attempt, recordedAt: nowMillis()))
    }

    static func masked(_ value: JSONValue, _ mask: SecretMask) -> JSONValue {
        switch value {
        case .string(let s): return .string(mask.masked(s))
        case .array(let a): return .array(a.map { masked($0, mask) })
        case .object(let o): return .object(o.mapValues { masked($0, mask) })
        default: return value
        }
    }

    package func reused(_ call: Call) async { try? await reuse(call.position) }
}
