import Hummingbird
import Metrics
import SlothRunner

/// `/api/v1/events`: dispatch (one, or a batch in one commit), list with keyset pagination,
/// inspect, delete, retry, replay, explain.
struct EventRoutes {
    let engine: Engine
    let maxBodyBytes: Int

    static let accepted = Counter(label: "sloth_events_accepted_total", dimensions: [("source", "api")])
    static let maxBatch = 1000
    static let maxPage = 1000
    static let eventFields: Set<String> = ["type", "data", "stack"]

    /// Under `/api/v1`.
    static let endpoints: [(HTTPRequest.Method, String)] = [
        (.post, "events"), (.post, "events:batch"), (.get, "events"), (.get, "events/{id}"), (.delete, "events/{id}"),
        (.post, "events/{id}/retry"), (.post, "events/{id}/replay"), (.get, "events/{id}/explain"),
    ]

    func register(on api: RouterGroup<APIRequestContext>) {
        api.post("events", use: dispatch)
        api.post("events:batch", use: dispatchBatch)
        api.get("events", use: list)
        api.get("events/{id}", use: show)
        api.delete("events/{id}", use: delete)
        api.post("events/{id}/retry", use: retry)
        api.post("events/{id}/replay", use: replay)
        api.get("events/{id}/explain", use: explain)
    }

    /// `{type, data, stack?}` → `202` with the event as stored, once it is committed.
    @Sendable func dispatch(_ request: Request, context: APIRequestContext) async throws -> Response {
        let body = try await request.jsonObject(limit: maxBodyBytes)
        let new = try Self.newEvent(from: body, at: nil)
        guard let key = request.headers[.idempotencyKey] else {
            let event: Event
            do { event = try await engine.dispatch(new) } catch { throw translate(error) }
            Self.accepted.increment()
            return JSONResponse.make(status: .accepted, event.json)
        }
        do throws(SlothError) { try IdempotencyKey.validate(key, field: "Idempotency-Key") } catch {
            throw APIError.badRequest("invalid_idempotency_key", error.description)
        }
        let outcome: (event: Event, replayed: Bool)
        do { outcome = try await engine.dispatch(new, idempotencyKey: key) } catch { throw translate(error) }
        if !outcome.replayed { Self.accepted.increment() }
        if outcome.replayed, let reused = IdempotencyKey.reuse(of: key, first: outcome.event, for: new) {
            throw APIError.unprocessable("idempotency_key_reused", "Idempotency-Key: " + reused)
        }
        var response = JSONResponse.make(status: .accepted, outcome.event.json)
        if outcome.replayed { response.headers[.idempotentReplayed] = "true" }
        return response
    }

    /// `{"events": [{type, data, stack?}, ...]}`: all stored in one commit, or none.
    @Sendable func dispatchBatch(_ request: Request, context: APIRequestContext) async throws -> Response {
        let body = try await request.jsonObject(limit: maxBodyBytes)
        if let unknown = body.keys.first(where: { $0 != "events" }) {
            throw APIError.unprocessable("invalid_input", "unknown field '\(unknown)'\(Hint.didYouMean(unknown, among: ["events"])); a batch is {\"events\": [...]}")
        }
        guard case .array(let items)? = body["events"] else {
            throw APIError.unprocessable("invalid_input", "a batch is {\"events\": [{\"type\": ..., \"data\": {...}}, ...]}")
        }
        guard !items.isEmpty else { throw APIError.unprocessable("invalid_input", "the batch holds no events") }
        guard items.count <= Self.maxBatch else {
            throw APIError.unprocessable("batch_too_large", "a batch holds at most \(Self.maxBatch) events, not \(items.count)")
        }
        var batch: [NewEvent] = []
        for (index, item) in items.enumerated() {
            guard case .object(let fields) = item else {
                throw APIError.unprocessable("invalid_input", "events[\(index)] must be an object, not \(item.typeName)")
            }
            batch.append(try Self.newEvent(from: fields, at: index))
        }
        let stored: [Event]
        do { stored = try await engine.dispatch(batch: batch) } catch { throw translate(error) }
        Self.accepted.increment(by: stored.count)
        return JSONResponse.make(status: .accepted, .object(["events": .array(stored.map(\.json))]))
    }

    /// Newest first; `next_cursor` (the last id of the page) gets the next page, null at the end.
    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let query = try QueryParameters(request, known: ["type", "status", "stack", "since", "until", "limit", "cursor"])
        let now = nowMillis()
        let limit = try query.integer("limit", in: 1...Self.maxPage, default: 50)
        let filter = EventFilter(
            type: query.text("type"), status: try query.status("status"), stack: query.text("stack"),
            since: try query.moment("since", now: now), until: try query.moment("until", now: now), before: query.text("cursor"),
            limit: limit + 1)
        if let type = filter.type, type.contains("*") {
            throw APIError.badRequest("invalid_parameter", "type takes one event type, not a pattern ('\(type)')")
        }
        let page = try await engine.store.listEvents(filter)
        let shown = Array(page.prefix(limit))
        let next: JSONValue = page.count > limit ? .string(shown.last!.id) : .null
        return JSONResponse.make(status: .ok, .object(["events": .array(shown.map(\.json)), "next_cursor": next]))
    }

    /// An event (by id or unique prefix) with its executions and dead letters.
    @Sendable func show(_ request: Request, context: APIRequestContext) async throws -> Response {
        let event = try await resolve(context)
        let runs = try await engine.store.executions(eventID: event.id)
        let dead = try await engine.store.deadLetters(eventID: event.id)
        let skips = try await engine.driver.skips(eventID: event.id)
        let effects = try await engine.driver.effectJournal(eventID: event.id, hookID: nil)
        return JSONResponse.make(status: .ok, event.json(executions: runs, deadLetters: dead, skips: skips, effects: effects))
    }

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> Response {
        let event = try await resolve(context)
        guard event.status != .processing else {
            throw APIError(.conflict, "event_in_flight", "event \(event.id) is being processed; delete it once it has finished")
        }
        try await engine.store.deleteEvent(id: event.id)
        return Response(status: .noContent)
    }

    /// Re-arms a failed event: its dead-lettered hooks get a fresh set of attempts.
    @Sendable func retry(_ request: Request, context: APIRequestContext) async throws -> Response {
        let event = try await resolve(context)
        guard event.status == .failed else {
            throw APIError(.conflict, "not_failed", "event \(event.id) is \(event.status.rawValue); only a failed event can be retried")
        }
        let now = nowMillis()
        try await engine.store.retryEvent(id: event.id, now: now)
        // The event as the retry left it, pending again (as the contract says): read back, a
        // worker may already have claimed it.
        var armed = event
        armed.status = .pending
        armed.error = nil
        armed.processedAt = nil
        armed.nextRunAt = now
        armed.leaseOwner = nil
        armed.leaseExpiresAt = nil
        return JSONResponse.make(status: .accepted, armed.json)
    }

    /// `{"hooks": [names]}` (optional; none: every enabled hook that takes the event) → `202`
    /// with the replay, a new event marked with the one it replays, who asked and when.
    @Sendable func replay(_ request: Request, context: APIRequestContext) async throws -> Response {
        let original = try await resolve(context)
        var hooks: [String] = []
        if let body = try await request.jsonObjectIfAny(limit: maxBodyBytes) {
            if let unknown = body.keys.sorted().first(where: { $0 != "hooks" }) {
                throw APIError.unprocessable("invalid_input", "unknown field '\(unknown)'\(Hint.didYouMean(unknown, among: ["hooks"])); a replay is {\"hooks\": [names]} or no body")
            }
            switch body["hooks"] {
            case nil, .null?: break
            case .array(let names)?:
                hooks = try names.map { name throws(APIError) -> String in
                    guard let s = name.stringValue else { throw APIError.unprocessable("invalid_input", "\"hooks\" lists hook names (strings)") }
                    return s
                }
            case let other?: throw APIError.unprocessable("invalid_input", "\"hooks\" must be an array of hook names, not \(other.typeName)")
            }
        }
        // The web UI sends its CSRF token with every change; other clients do not.
        let fromUI = request.headers[WebSessions.csrfHeader] != nil
        let by = (fromUI ? "web" : "token") + (context.tokenName.map { ":" + $0 } ?? (fromUI ? "" : ":none"))
        let event: Event
        do { event = try await engine.replay(original, hooks: hooks, by: by) } catch { throw translate(error) }
        return JSONResponse.make(status: .accepted, event.json)
    }

    /// Why each registered hook ran for the event or did not.
    @Sendable func explain(_ request: Request, context: APIRequestContext) async throws -> Response {
        let event = try await resolve(context)
        return JSONResponse.make(status: .ok, try await engine.explain(event))
    }

    private func resolve(_ context: APIRequestContext) async throws -> Event {
        let id = try context.parameters.require("id")
        do {
            return try await engine.store.resolveEvent(id)
        } catch SlothError.invalidInput(let message) {
            // A path that cannot name an event: the request is wrong, not its content.
            throw APIError.badRequest("invalid_id", message)
        }
    }

    static func newEvent(from fields: [String: JSONValue], at index: Int?) throws(APIError) -> NewEvent {
        let place = index.map { "events[\($0)]: " } ?? ""
        if let unknown = fields.keys.sorted().first(where: { !eventFields.contains($0) }) {
            throw APIError.unprocessable(
                "invalid_input", "\(place)unknown field '\(unknown)'\(Hint.didYouMean(unknown, among: eventFields)); an event is {type, data, stack}")
        }
        guard case .string(let type)? = fields["type"] else {
            throw APIError.unprocessable("invalid_input", "\(place)\"type\" is required: a string such as \"custom.deploy_done\"")
        }
        var stack: String?
        switch fields["stack"] {
        case .string(let s)?: stack = s
        case .null?, nil: stack = nil
        case let other?: throw APIError.unprocessable("invalid_input", "\(place)\"stack\" must be a string, not \(other.typeName)")
        }
        return NewEvent(type: type, data: fields["data"] ?? .object([:]), stack: stack)
    }

    /// The engine's refusal as an API answer: shutting down is `503`, bad input `422`.
    private func translate(_ error: SlothError) -> APIError {
        if case .runtime = error, !engine.isRunning {
            var e = APIError(.serviceUnavailable, "shutting_down", "the engine is shutting down and accepts no new events; retry against another node or later")
            e.headers[.retryAfter] = "5"
            return e
        }
        return APIError(error)
    }
}
