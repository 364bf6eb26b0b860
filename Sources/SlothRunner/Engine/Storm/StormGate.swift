import Foundation

/// Storm control's rules, the same for every store: before a gated hook runs for an event, the
/// gate decides — run, skip (throttled, debounced), or defer to a later time (rate limit,
/// concurrency, an open circuit, a debounce still waiting for quiet) — from state the store
/// keeps per hook and group, changed only by compare-and-set, so any number of nodes agree
/// and a restart forgets nothing. After the run it releases what the run held and feeds the
/// circuit breaker. Time comes in as `now`: tests drive it with their own clock.
package struct StormGate: Sendable {
    package let store: any StormControlStore

    package init(store: any StormControlStore) { self.store = store }

    /// What happens to one hook for one event now.
    package enum Admission: Sendable, Equatable {
        /// Run it; hand the ticket back to `finish` afterwards.
        case run(Ticket)
        /// Settled without a run (recorded with the outcome).
        case skip(reason: String, detail: String, related: String?)
        /// Not now: try again at `until` (no attempt is used).
        case deferred(until: Millis, reason: String, detail: String)
    }

    /// What a run admitted holds.
    package struct Ticket: Sendable, Equatable {
        package var concurrencyGroup: String?
        /// The run is the circuit's trial after it was open.
        package var circuitTrial = false
    }

    /// A change of a circuit, for `health.degraded` / `health.recovered`.
    package enum CircuitChange: Sendable, Equatable {
        case opened(failures: Int, openUntil: Millis)
        case closed(downtimeMillis: Int64)
    }

    /// How long a concurrency slot or a circuit trial is held at most: the hook's timeout and a
    /// margin, so a node that died with it frees it.
    static func holdMillis(_ hook: Hook) -> Int64 { hook.limits.timeoutMillis + 5_000 }
    /// How soon a run waiting for a concurrency slot or a circuit trial asks again.
    package static let recheckMillis: Int64 = 250
    static let maxSwaps = 64

    package func admit(_ hook: Hook, event: Event, now: Millis) async throws -> Admission {
        let c = hook.controls
        var ticket = Ticket()
        if let breaker = c.circuitBreaker {
            let (wait, trial) = try await circuitAdmit(hook, breaker, event: event, now: now)
            if let wait { return wait }
            ticket.circuitTrial = trial
        }
        if let d = c.debounce {
            let group = HookControls.group(d.groupBy, of: event)
            if let wait = try await debounceAdmit(hook, d, group: group, event: event, now: now) { return wait }
        }
        if let t = c.throttle {
            let group = HookControls.group(t.groupBy, of: event)
            if let skip = try await throttleAdmit(hook, t, group: group, event: event, now: now) { return skip }
        }
        if let k = c.concurrency {
            let group = HookControls.group(k.groupBy, of: event)
            if let wait = try await concurrencyAdmit(hook, k, group: group, event: event, now: now) { return wait }
            ticket.concurrencyGroup = group
        }
        if let r = c.rateLimit {
            let group = HookControls.group(r.groupBy, of: event)
            if let wait = try await rateAdmit(hook, r, group: group, now: now) {
                if let g = ticket.concurrencyGroup { try await concurrencyRelease(hook, group: g, event: event, now: now) }
                return wait
            }
        }
        return .run(ticket)
    }

    /// After a run: frees its concurrency slot and feeds the circuit breaker; returns the circuit's change, if any.
    package func finish(_ hook: Hook, event: Event, ticket: Ticket, succeeded: Bool, now: Millis) async throws -> CircuitChange? {
        if let g = ticket.concurrencyGroup { try await concurrencyRelease(hook, group: g, event: event, now: now) }
        guard let breaker = hook.controls.circuitBreaker else { return nil }
        // A success that was not the trial changes nothing (a closed circuit keeps its recent
        // failures; an open one waits for its trial): no read, the common case costs nothing.
        if succeeded && !ticket.circuitTrial { return nil }
        return try await circuitRecord(hook, breaker, event: event, succeeded: succeeded, now: now)
    }

    /// Gives back what an admitted run holds without running it (the claim was handed back).
    package func release(_ hook: Hook, event: Event, ticket: Ticket, now: Millis) async throws {
        if let g = ticket.concurrencyGroup { try await concurrencyRelease(hook, group: g, event: event, now: now) }
    }

    // MARK: compare-and-set

    /// Reads the row, lets `change` decide its next value (nil: delete) and the answer, and
    /// writes it with compare-and-set; again from the read while another writer came first.
    func update<T>(
        _ hook: Hook, _ control: String, _ group: String, now: Millis,
        _ change: (JSONValue?) -> (write: Bool, value: JSONValue?, expiresAt: Millis?, answer: T)
    ) async throws -> T {
        for _ in 0..<Self.maxSwaps {
            let row = try await store.controlState(hookID: hook.id, control: control, group: group, now: now)
            let next = change(row?.value)
            if !next.write { return next.answer }
            if try await store.controlStateSwap(
                hookID: hook.id, control: control, group: group, expected: row?.version, value: next.value, expiresAt: next.expiresAt, now: now)
            {
                return next.answer
            }
        }
        throw SlothError.storage("storm control state of hook \(hook.name) (\(control)) kept changing under \(Self.maxSwaps) tries")
    }

    // MARK: throttle

    func throttleAdmit(_ hook: Hook, _ t: HookControls.Throttle, group: String, event: Event, now: Millis) async throws -> Admission? {
        try await update(hook, "throttle", group, now: now) { value -> (write: Bool, value: JSONValue?, expiresAt: Millis?, answer: Admission?) in
            if let holder = value?["event"]?.stringValue {
                if holder == event.id { return (false, nil, nil, nil) }
                let since = value?["since"]?.intValue ?? now, until = value?["until"]?.intValue ?? now
                return (false, nil, nil, .skip(
                    reason: "throttled",
                    detail: "throttled: event \(holder) ran for this group at \(RFC3339.string(millis: since)); the window lasts until \(RFC3339.string(millis: until))",
                    related: holder))
            }
            let until = now + t.windowMillis
            return (true, .object(["event": .string(event.id), "since": .int(now), "until": .int(until)]), until, nil)
        }
    }

    // MARK: debounce

    /// Registers the event as the group's latest (unless a later one is), then: the latest
    /// runs once the group was quiet long enough; an earlier one is skipped.
    func debounceAdmit(_ hook: Hook, _ d: HookControls.Debounce, group: String, event: Event, now: Millis) async throws -> Admission? {
        try await update(hook, "debounce", group, now: now) { value -> (write: Bool, value: JSONValue?, expiresAt: Millis?, answer: Admission?) in
            // Quiet as the gate sees it: a quiet period from when the event is registered (or
            // from its creation, when that is later), so an event the engine reaches late —
            // others of its burst already stored, not yet seen — still waits for them.
            let due = max(event.createdAt, now) + d.quietMillis
            let row: JSONValue = .object(["last": .string(event.id), "due": .int(due)])
            let last = value?["last"]?.stringValue
            if last == event.id {
                let registeredDue = value?["due"]?.intValue ?? due
                return (false, nil, nil, registeredDue <= now ? nil : Self.debounceWait(registeredDue))
            }
            if let last, last > event.id {
                return (false, nil, nil, .skip(
                    reason: "debounced", detail: "debounced: a later event of the burst (\(last)) runs instead", related: last))
            }
            // The first of a burst, or a later event than the one registered: the latest now.
            return (true, row, due + d.quietMillis, Self.debounceWait(due))
        }
    }

    static func debounceWait(_ due: Millis) -> Admission {
        .deferred(until: due, reason: "debounce_waiting", detail: "debounced: runs at \(RFC3339.string(millis: due)) unless a later event of the burst comes")
    }

    // MARK: rate limit (a sliding window: at most `count` runs in any `period`)

    func rateAdmit(_ hook: Hook, _ r: HookControls.RateLimit, group: String, now: Millis) async throws -> Admission? {
        try await update(hook, "rate_limit", group, now: now) { value -> (write: Bool, value: JSONValue?, expiresAt: Millis?, answer: Admission?) in
            var runs = (value?["runs"]?.arrayValue ?? []).compactMap(\.intValue).filter { $0 > now - r.periodMillis }.sorted()
            if runs.count >= r.count {
                let next = runs[runs.count - r.count] + r.periodMillis
                return (false, nil, nil, .deferred(
                    until: next, reason: "rate_limited",
                    detail: "rate-limited (\(r.count) per \(DurationText.format(millis: r.periodMillis))): next slot at \(RFC3339.string(millis: next))"))
            }
            runs.append(now)
            return (true, .object(["runs": .array(runs.map(JSONValue.int))]), now + r.periodMillis, nil)
        }
    }

    // MARK: concurrency

    func concurrencyAdmit(_ hook: Hook, _ k: HookControls.Concurrency, group: String, event: Event, now: Millis) async throws -> Admission? {
        let hold = now + Self.holdMillis(hook)
        return try await update(hook, "concurrency", group, now: now) { value -> (write: Bool, value: JSONValue?, expiresAt: Millis?, answer: Admission?) in
            var holders = (value?["holders"]?.objectValue ?? [:]).filter { ($0.value.intValue ?? 0) > now }
            if holders[event.id] != nil { return (false, nil, nil, nil) }
            guard holders.count < k.limit else {
                return (false, nil, nil, .deferred(
                    until: now + Self.recheckMillis, reason: "concurrency",
                    detail: "waiting for a concurrency slot (\(k.limit) at a time; held by \(holders.keys.sorted().joined(separator: ", ")))"))
            }
            holders[event.id] = .int(hold)
            let expiry = holders.values.compactMap(\.intValue).max() ?? hold
            return (true, .object(["holders": .object(holders)]), expiry, nil)
        }
    }

    func concurrencyRelease(_ hook: Hook, group: String, event: Event, now: Millis) async throws {
        try await update(hook, "concurrency", group, now: now) { value -> (write: Bool, value: JSONValue?, expiresAt: Millis?, answer: Void) in
            guard var holders = value?["holders"]?.objectValue, holders[event.id] != nil else { return (false, nil, nil, ()) }
            holders.removeValue(forKey: event.id)
            holders = holders.filter { ($0.value.intValue ?? 0) > now }
            if holders.isEmpty { return (true, nil, nil, ()) }
            return (true, .object(["holders": .object(holders)]), holders.values.compactMap(\.intValue).max(), ())
        }
    }

    // MARK: circuit breaker

    /// No deferral: the run may go ahead — the circuit is closed, or this run is (now) the
    /// trial of a circuit whose open period is over (`trial`).
    func circuitAdmit(_ hook: Hook, _ b: HookControls.CircuitBreaker, event: Event, now: Millis) async throws -> (Admission?, trial: Bool) {
        let hold = now + Self.holdMillis(hook)
        return try await update(hook, "circuit", "", now: now) { value -> (write: Bool, value: JSONValue?, expiresAt: Millis?, answer: (Admission?, trial: Bool)) in
            guard let value, let state = value["state"]?.stringValue, state != "closed" else { return (false, nil, nil, (nil, false)) }
            let openUntil = value["open_until"]?.intValue ?? now
            if state == "open" && now < openUntil {
                return (false, nil, nil, (.deferred(
                    until: openUntil, reason: "circuit_open",
                    detail: "circuit open since \(RFC3339.string(millis: value["opened_at"]?.intValue ?? now)) after \(b.failures) failures; a trial run at \(RFC3339.string(millis: openUntil))"), false))
            }
            let trial = value["trial"]?.stringValue, trialUntil = value["trial_until"]?.intValue ?? 0
            if state == "half_open", let trial, trialUntil > now {
                if trial == event.id { return (false, nil, nil, (nil, true)) }
                return (false, nil, nil, (.deferred(
                    until: min(trialUntil, now + Self.recheckMillis * 4), reason: "circuit_open",
                    detail: "circuit half-open: event \(trial) is the trial run"), false))
            }
            // The open period is over (or a trial died): this run is the trial.
            var next = value.objectValue ?? [:]
            next["state"] = .string("half_open")
            next["trial"] = .string(event.id)
            next["trial_until"] = .int(hold)
            return (true, .object(next), nil, (nil, true))
        }
    }

    func circuitRecord(_ hook: Hook, _ b: HookControls.CircuitBreaker, event: Event, succeeded: Bool, now: Millis) async throws -> CircuitChange? {
        try await update(hook, "circuit", "", now: now) { value -> (write: Bool, value: JSONValue?, expiresAt: Millis?, answer: CircuitChange?) in
            let state = value?["state"]?.stringValue ?? "closed"
            var failures = (value?["failures"]?.arrayValue ?? []).compactMap(\.intValue).filter { $0 > now - b.withinMillis }
            if succeeded {
                if state == "closed" { return (false, nil, nil, nil) }
                if state == "half_open", value?["trial"]?.stringValue != event.id { return (false, nil, nil, nil) }
                let downtime = now - (value?["opened_at"]?.intValue ?? now)
                return (true, nil, nil, .closed(downtimeMillis: downtime))
            }
            if state == "half_open" {
                guard value?["trial"]?.stringValue == event.id else { return (false, nil, nil, nil) }
                var next = value?.objectValue ?? [:]
                next["state"] = .string("open")
                next["open_until"] = .int(now + b.openForMillis)
                next.removeValue(forKey: "trial")
                next.removeValue(forKey: "trial_until")
                return (true, .object(next), nil, nil)
            }
            if state == "open" { return (false, nil, nil, nil) }
            failures.append(now)
            if failures.count >= b.failures {
                let until = now + b.openForMillis
                return (true, .object(["state": .string("open"), "opened_at": .int(now), "open_until": .int(until), "failures": .array(failures.map(JSONValue.int))]), nil,
                        .opened(failures: failures.count, openUntil: until))
            }
            // Kept while its latest failure still counts.
            return (true, .object(["state": .string("closed"), "failures": .array(failures.map(JSONValue.int))]), now + b.withinMillis, nil)
        }
    }
}
