import Foundation
import Hummingbird
import NIOCore
import SlothRunner
import SlothRunnerSources

/// The web UI at `/`: server-rendered pages (Mustache) over the same engine the API serves, a
/// little plain JavaScript for live updates and actions, which go through the JSON API with the
/// session's CSRF token. Who may see it: anyone while the API is open (no token, loopback);
/// otherwise a session from `/login`. A `read` session sees everything and its pages offer no
/// changes — and the API refuses them anyway.
struct WebUIRoutes {
    let engine: Engine
    let tokens: TokenBook
    let sessions: WebSessions
    let webhookActivity: WebhookActivity
    let loopback: Bool
    let secure: Bool
    let version: String
    let started: Millis
    /// The CSRF token of the open UI (no API token exists): pages carry it so the same script
    /// works; the API does not ask for it then.
    let openCSRF = WebSessions.random()
    /// The overview's chart buckets that have ended, counted once.
    let activity = ActivityCache()

    static let endpoints: [(HTTPRequest.Method, String)] = [
        (.get, ""), (.get, "events"), (.get, "events/{id}"), (.get, "hooks"), (.get, "hooks/{name}"), (.get, "types"),
        (.get, "webhooks"), (.get, "state"), (.get, "secrets"),
        (.get, "login"), (.post, "login"), (.post, "logout"), (.get, "ui/{file}"),
    ]

    struct Viewer {
        let name: String?
        let role: APIToken.Role
        let csrf: String
        var context: [String: Any] {
            var o: [String: Any] = [
                "role": role.rawValue, "csrf": csrf, "canWrite": role >= .write ? "true" : "false",
                "canAdmin": role >= .admin ? "true" : "false",
            ]
            if let name { o["name"] = name }
            return o
        }
    }

    func register(on router: Router<APIRequestContext>) {
        router.get("ui/{file}") { _, context in
            guard let response = WebPages.asset(try context.parameters.require("file")) else { throw APIError.notFound("no such asset") }
            return response
        }
        router.get("login") { request, _ in
            let live = try await tokens.current()
            return page(request, "login", title: "Log in", viewer: Viewer(name: nil, role: .read, csrf: ""), [
                "next": Self.safeNext(request.uri.queryParameters["next"].map(String.init)),
                "noTokens": live.isEmpty && !loopback,
            ])
        }
        router.post("login", use: login)
        router.post("logout") { request, _ in
            if let id = WebSessions.cookie(WebSessions.cookieName, in: request) { sessions.end(id) }
            return Self.redirect("/login", cookie: WebSessions.setCookie(nil, secure: secure))
        }
        router.get("", use: overview)
        router.get("overview/live", use: overviewLive)
        router.get("events", use: events)
        router.get("events/{id}", use: event)
        router.get("hooks", use: hooks)
        router.get("hooks/{name}", use: hook)
        router.get("webhooks", use: webhooks)
        router.get("sources", use: sources)
        router.get("state", use: state)
        router.get("secrets") { request, _ in
            guard let viewer = try await viewer(request) else { return Self.toLogin(request) }
            let all = try await engine.store.secretList().map { ($0.json.mustache as? [String: Any]) ?? [:] }
            return page(request, "secrets", title: "Secrets", viewer: viewer, ["nav": ["secrets": true], "secrets": all])
        }
        router.get("types") { request, _ in
            guard let viewer = try await viewer(request) else { return Self.toLogin(request) }
            let types: [[String: Any]] = EventCatalog.entries.map { ["type": $0.type, "description": $0.note.isEmpty ? $0.category : $0.note, "fields": $0.fields] }
            return page(request, "types", title: "Event types", viewer: viewer, ["types": types, "nav": ["types": true]])
        }
    }

    // MARK: who is looking

    func viewer(_ request: Request) async throws -> Viewer? {
        let live = try await tokens.current()
        if live.isEmpty { return loopback ? Viewer(name: nil, role: .admin, csrf: openCSRF) : nil }
        guard let s = sessions.session(of: request, liveTokens: live) else { return nil }
        return Viewer(name: s.tokenName, role: s.role, csrf: s.csrf)
    }

    @Sendable func login(_ request: Request, context: APIRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 16 * 1024)
        let form = Self.form(String(buffer: body))
        let next = Self.safeNext(form["next"])
        let live = try await tokens.current()
        guard let token = form["token"], let found = live[APIToken.hash(token)] else {
            return page(request, "login", title: "Log in", viewer: Viewer(name: nil, role: .read, csrf: ""),
                        ["error": "That token is not valid (unknown or revoked).", "next": next], status: .unauthorized)
        }
        let session = sessions.create(token: found, hash: APIToken.hash(token))
        return Self.redirect(next, cookie: WebSessions.setCookie(session, secure: secure))
    }

    // MARK: pages

    @Sendable func overview(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let viewer = try await viewer(request) else { return Self.toLogin(request) }
        return page(request, "overview", title: "Overview", viewer: viewer, try await overviewFigures())
    }

    /// The overview's live part alone (counters, charts, hook tables): the page fetches it when
    /// the event stream says something changed, and when a minute turns, and swaps it in.
    @Sendable func overviewLive(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard try await viewer(request) != nil else {
            return Response(status: .unauthorized, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "log in again")))
        }
        var figures = try await overviewFigures()
        figures["version"] = version
        figures["node"] = engine.configuration.nodeID
        return WebPages.render("overview-live", figures)
    }

    func overviewFigures() async throws -> [String: Any] {
        let now = nowMillis()
        let status = engine.status
        let pending = try await engine.store.countEvents(status: .pending)
        let dead = try await engine.deadLetterCount()
        let minute: Int64 = 60_000, hour: Int64 = 3_600_000
        let lastHour = try await activity.series(driver: engine.driver, step: minute, count: 60, now: now)
        let lastDay = try await activity.series(driver: engine.driver, step: hour, count: 24, now: now)
        func series(_ rows: [(start: Millis, total: Int, failed: Int)], label: (Millis) -> String) -> [(label: String, total: Int, failed: Int)] {
            rows.map { (label($0.start), $0.total, $0.failed) }
        }
        let clock: (Millis) -> String = { RFC3339.string(millis: $0).dropFirst(11).prefix(5) + " UTC" }
        let day: (Millis) -> String = { RFC3339.string(millis: $0).dropFirst(5).prefix(11).replacingOccurrences(of: "T", with: " ") + " UTC" }
        let hooks = try await engine.store.listHooks(HookFilter())
        var stats: [(name: String, stats: HookStats)] = []
        for h in hooks { stats.append((h.name, try await engine.store.hookStats(hookID: h.id))) }
        let failing = stats.filter { $0.stats.executions > $0.stats.successes }
            .sorted { $0.stats.executions - $0.stats.successes > $1.stats.executions - $1.stats.successes }.prefix(5)
            .map { ["name": $0.name, "failures": $0.stats.executions - $0.stats.successes, "rate": Self.percent($0.stats.successRate)] as [String: Any] }
        let slowest = stats.filter { $0.stats.p95Millis != nil }.sorted { ($0.stats.p95Millis ?? 0) > ($1.stats.p95Millis ?? 0) }.prefix(5)
            .map { ["name": $0.name, "p95": Self.millis($0.stats.p95Millis), "p50": Self.millis($0.stats.p50Millis)] as [String: Any] }
        let statusContext: [String: Any] = [
            "queued": status.queued, "in_flight": status.inFlight, "pending_in_store": pending, "dead_letters": dead,
            "events_per_second_last_minute": (status.finishedPerSecond * 100).rounded() / 100, "phase": status.phase,
        ]
        return [
            "nav": ["overview": true], "status": statusContext,
            "hourChart": WebPages.barChart(series(lastHour, label: clock), title: "Events per minute over the last hour"),
            "dayChart": WebPages.barChart(series(lastDay, label: day), title: "Events per hour over the last day"),
            "failing": Array(failing), "slowest": Array(slowest), "uptime": DurationText.format(millis: now - started),
        ]
    }

    @Sendable func events(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let viewer = try await viewer(request) else { return Self.toLogin(request) }
        let q = request.uri.queryParameters
        func text(_ name: String) -> String? { q[Substring(name)].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
        var filter = EventFilter(limit: 50)
        var problem: String?
        var typePattern: EventPattern?
        if let t = text("type") {
            do {
                let pattern = try EventPattern(t)
                if pattern.isPattern { typePattern = pattern } else { filter.type = t }
            } catch { problem = "type: \(error.description)" }
        }
        if let s = text("status") {
            if let status = EventStatus(rawValue: s) { filter.status = status } else { problem = "status must be one of \(EventStatus.allCases.map(\.rawValue).joined(separator: ", "))" }
        }
        filter.stack = text("stack")
        let now = nowMillis()
        for (name, keyPath) in [("since", \EventFilter.since), ("until", \EventFilter.until)] as [(String, WritableKeyPath<EventFilter, Millis?>)] {
            guard let raw = text(name) else { continue }
            if let at = RFC3339.parse(raw) { filter[keyPath: keyPath] = at }
            else if let seconds = try? DurationText.parseSeconds(raw) { filter[keyPath: keyPath] = now - Int64(seconds * 1000) }
            else { problem = "\(name) must be an RFC 3339 time or a duration ago (1h), not '\(raw)'" }
        }
        filter.before = text("before")
        var rows: [Event] = []
        var next: String?
        if problem == nil {
            // A pattern is matched here over pages of the exact listing, newest first, until a
            // page is full or 5,000 events were looked at (the cursor goes on from there).
            var scanned = 0
            var cursor = filter.before
            while rows.count < 50 {
                var page = filter
                page.before = cursor
                page.limit = typePattern == nil ? 50 : 500
                let batch = try await engine.store.listEvents(page)
                for e in batch where typePattern?.matches(e.type) ?? true {
                    if rows.count < 50 { rows.append(e) }
                }
                scanned += batch.count
                cursor = batch.last?.id
                if typePattern == nil || batch.count < page.limit || scanned >= 5000 { break }
            }
            if rows.count == 50 || (typePattern != nil && scanned >= 5000), let last = typePattern == nil ? rows.last?.id : cursor {
                var parts: [String] = []
                for key in ["type", "status", "stack", "since", "until"] { if let v = text(key) { parts.append("\(key)=\(Self.urlEncode(v))") } }
                parts.append("before=\(last)")
                next = "/events?" + parts.joined(separator: "&")
            }
        }
        let statuses: [[String: Any]] = EventStatus.allCases.map { ["name": $0.rawValue, "selected": $0 == filter.status] }
        var page: [String: Any] = [
            "nav": ["events": true], "events": rows.map(Self.row), "statuses": statuses,
            "filter": ["type": text("type") ?? "", "status": text("status") ?? "", "stack": text("stack") ?? "", "since": text("since") ?? "", "until": text("until") ?? ""],
            // Live additions only on the first page (a later page is history).
            "live": filter.before == nil && filter.until == nil ? "true" : "false",
        ]
        if let next { page["next"] = next }
        if let problem { page["error"] = problem }
        return self.page(request, "events", title: "Events", viewer: viewer, page, status: problem == nil ? .ok : .badRequest)
    }

    @Sendable func event(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let viewer = try await viewer(request) else { return Self.toLogin(request) }
        let id = try context.parameters.require("id")
        let found: Event
        do { found = try await engine.store.resolveEvent(id) } catch let error as SlothError {
            return page(request, "event", title: "Event", viewer: viewer, ["nav": ["events": true], "error": error.description], status: .notFound)
        }
        let executions = try await engine.store.executions(eventID: found.id)
        let dead = try await engine.store.deadLetters(eventID: found.id)
        let children = try await engine.driver.childEvents(of: found.id, limit: 100)
        var event = (found.json.mustache as? [String: Any]) ?? [:]
        event["data"] = found.data.serialized(pretty: true)
        var executionRows: [[String: Any]] = []
        for x in executions {
            var row = (x.json.mustache as? [String: Any]) ?? [:]
            if x.output.isEmpty { row.removeValue(forKey: "output") }
            executionRows.append(row)
        }
        var context: [String: Any] = [
            "nav": ["events": true], "event": event, "executions": executionRows,
            "dead_letters": dead.map { ($0.json.mustache as? [String: Any]) ?? [:] }, "has_dead": !dead.isEmpty,
        ]
        if !children.isEmpty { context["children"] = ["items": children.map(Self.row)] }
        let explained = try await EventExplainer.report(for: found, store: engine.driver)
        context["verdicts"] = explained.verdicts.map { v -> [String: Any] in
            ["hook": v.hook, "ran": v.ran, "reason": v.reason.rawValue, "detail": v.detail]
        }
        if !explained.replays.isEmpty { context["replays"] = ["items": explained.replays.map(Self.row)] }
        if let r = found.replay {
            context["replay_of"] = ["of": r.of, "by": r.by, "at": RFC3339.string(millis: r.at), "hooks": r.hooks.joined(separator: ", ")]
        }
        return page(request, "event", title: "Event \(found.id.prefix(13))", viewer: viewer, context)
    }

    @Sendable func hooks(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let viewer = try await viewer(request) else { return Self.toLogin(request) }
        var rows: [[String: Any]] = []
        for h in try await engine.store.listHooks(HookFilter()) {
            let stats = try await engine.store.hookStats(hookID: h.id)
            let recent = try await engine.store.hookHistory(hookID: h.id, limit: 30, failedOnly: false)
            rows.append([
                "name": h.name, "types": h.eventTypes.joined(separator: ", "), "stack": h.stack ?? "", "enabled": h.enabled,
                "runs": h.runCount, "rate": Self.percent(stats.successRate), "p50": Self.millis(stats.p50Millis), "p95": Self.millis(stats.p95Millis),
                "trend": WebPages.sparkline(recent.reversed().map(\.durationMillis)),
            ])
        }
        return page(request, "hooks", title: "Hooks", viewer: viewer, ["nav": ["hooks": true], "hooks": rows])
    }

    @Sendable func hook(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let viewer = try await viewer(request) else { return Self.toLogin(request) }
        let name = try context.parameters.require("name")
        guard let h = try await engine.store.hook(named: name) else {
            return page(request, "hook", title: "Hook", viewer: viewer, ["nav": ["hooks": true], "error": "no hook named '\(name)'"], status: .notFound)
        }
        let failuresFirst = request.uri.queryParameters["failed"] != nil
        let stats = try await engine.store.hookStats(hookID: h.id)
        // Failures first on request: the last 100 failures, then the last 100 runs without them.
        var history = try await engine.store.hookHistory(hookID: h.id, limit: 100, failedOnly: failuresFirst)
        if failuresFirst {
            history += try await engine.store.hookHistory(hookID: h.id, limit: 100, failedOnly: false).filter(\.success)
        }
        // The test panel starts from the catalog's fields for the hook's (first) type.
        let type = h.eventTypes.first { !$0.contains("*") } ?? "custom.test"
        var data: [String: JSONValue] = [:]
        if let entry = EventCatalog.entries.first(where: { $0.type == type }) {
            for field in entry.fields.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !field.isEmpty {
                let parts = field.split(separator: ".").map(String.init)
                if parts.count == 2 {
                    var inner = data[parts[0]]?.objectValue ?? [:]
                    inner[parts[1]] = .string("")
                    data[parts[0]] = .object(inner)
                } else {
                    data[field] = .string("")
                }
            }
        }
        var sample: [String: JSONValue] = ["type": .string(type), "data": .object(data)]
        if let stack = h.stack { sample["stack"] = .string(stack) }
        let hookContext: [String: Any] = [
            "name": h.name, "types": h.eventTypes.joined(separator: ", "), "stack": h.stack ?? "", "enabled": h.enabled,
            "description": h.description ?? "", "timeout_ms": h.limits.timeoutMillis, "memory_limit_bytes": h.limits.memoryBytes,
            "instruction_limit": h.limits.instructions, "max_attempts": h.maxAttempts, "retry_delay_ms": h.retryDelayMillis,
            "permissions": h.permissions?.json.serialized(pretty: true) ?? "none declared",
            "filter": h.filter?.json.serialized(pretty: true) ?? "none",
            "controls": h.controls.lines.isEmpty ? "none (every matching event runs)" : h.controls.lines.joined(separator: "\n"),
            "runs": h.runCount, "rate": Self.percent(stats.successRate), "p50": Self.millis(stats.p50Millis), "p95": Self.millis(stats.p95Millis),
            "lines": WebPages.highlightedLua(h.source).map { ["html": $0] },
            "sample": JSONValue.object(sample).serialized(pretty: true),
        ]
        let historyRows: [[String: Any]] = history.map { x in
            var row = (x.json.mustache as? [String: Any]) ?? [:]
            row["short"] = String(x.eventID.prefix(13))
            return row
        }
        return page(request, "hook", title: "Hook \(h.name)", viewer: viewer, [
            "nav": ["hooks": true], "hook": hookContext, "history": historyRows, "failuresFirst": failuresFirst,
        ])
    }

    @Sendable func webhooks(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let viewer = try await viewer(request) else { return Self.toLogin(request) }
        let base = (secure ? "https://" : "http://") + (request.head.authority ?? "HOST")
        let rows: [[String: Any]] = try await engine.driver.webhookList().map { w in
            var o = (w.json.mustache as? [String: Any]) ?? [:]
            o["url"] = base + "/webhooks/" + w.name
            o["declared"] = w.declaredIn ?? "webhook add"
            let recent = webhookActivity.recent(w.name)
            o["deliveries"] = recent.deliveries.map { e -> [String: Any] in
                var d: [String: Any] = ["at": RFC3339.string(millis: e.at)]
                if let id = e.eventID { d["event_id"] = id; d["short"] = String(id.prefix(13)) }
                if let delivery = e.deliveryID { d["delivery_id"] = delivery }
                return d
            }
            o["rejections"] = recent.rejections.map { ["at": RFC3339.string(millis: $0.at), "reason": $0.reason ?? "", "message": $0.message ?? ""] }
            return o
        }
        return page(request, "webhooks", title: "Webhooks", viewer: viewer, ["nav": ["webhooks": true], "webhooks": rows])
    }

    /// The event sources (as the running daemon reports them), schedules, checks and watches.
    @Sendable func sources(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let viewer = try await viewer(request) else { return Self.toLogin(request) }
        let driver = engine.driver
        let now = nowMillis()
        let sources = try await driver.sourceStatusList().map { ($0.json.mustache as? [String: Any]) ?? [:] }
        let schedules: [[String: Any]] = try await driver.scheduleList().map { s in
            var o = (s.json.mustache as? [String: Any]) ?? [:]
            if s.enabled, let cron = try? CronExpression(s.cron), let zone = TimeZone(identifier: s.zone),
               let next = cron.next(after: max(now, s.firedThrough), in: zone) {
                o["next"] = RFC3339.string(millis: next)
            }
            return o
        }
        let checks: [[String: Any]] = try await driver.checkList().map { c in
            var o = (c.json.mustache as? [String: Any]) ?? [:]
            o["interval"] = DurationText.format(millis: c.intervalMillis)
            return o
        }
        let watches: [[String: Any]] = try await driver.watchList().map { w in
            var o = (w.json.mustache as? [String: Any]) ?? [:]
            o["paths"] = w.paths.joined(separator: ", ")
            o["include"] = w.include.isEmpty ? "–" : w.include.joined(separator: ", ")
            o["exclude"] = w.exclude.isEmpty ? "–" : w.exclude.joined(separator: ", ")
            o["settle"] = DurationText.format(millis: w.settleMillis)
            return o
        }
        return page(request, "sources", title: "Event sources", viewer: viewer, [
            "nav": ["sources": true], "sources": sources, "schedules": schedules, "checks": checks, "watches": watches,
        ])
    }

    @Sendable func state(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let viewer = try await viewer(request) else { return Self.toLogin(request) }
        let q = request.uri.queryParameters
        let chosen = q["stack"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let prefix = q["prefix"].map(String.init) ?? ""
        let stack = chosen.map { $0 == StoreRoutes.defaultStack ? "" : $0 }
        let now = nowMillis()
        let entries = try await engine.store.stateEntries(stack: stack, prefix: prefix, now: now)
        let stacks = Set(try await engine.store.stateEntries(stack: nil, prefix: "", now: now).map(\.stack)).sorted()
        let rows: [[String: Any]] = entries.prefix(1000).enumerated().map { i, e in
            var o: [String: Any] = [
                "index": i, "key": e.key, "value": e.value.serialized(), "canWrite": viewer.role >= .write,
                "stack_path": e.stack.isEmpty ? StoreRoutes.defaultStack : e.stack, "stack_label": e.stack.isEmpty ? "(default)" : e.stack,
            ]
            if let at = e.expiresAt { o["expires_at"] = RFC3339.string(millis: at) }
            return o
        }
        let choices: [[String: Any]] = stacks.map { s in
            let value = s.isEmpty ? StoreRoutes.defaultStack : s
            return ["value": value, "label": s.isEmpty ? "(default)" : s, "selected": value == chosen]
        }
        return page(request, "state", title: "State", viewer: viewer, ["nav": ["state": true], "entries": rows, "stacks": choices, "prefix": prefix])
    }

    // MARK: helpers

    func page(_ request: Request, _ name: String, title: String, viewer: Viewer, _ extra: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        var context = extra
        context["title"] = title
        context["page"] = name
        context["viewer"] = viewer.context
        context["version"] = version
        context["node"] = engine.configuration.nodeID
        return WebPages.render(name, context, status: status)
    }

    static func row(_ e: Event) -> [String: Any] {
        var o = (e.json.mustache as? [String: Any]) ?? [:]
        o.removeValue(forKey: "data")
        o["short"] = String(e.id.prefix(13))
        return o
    }

    static func percent(_ rate: Double?) -> String { rate.map { "\(Int(($0 * 100).rounded())) %" } ?? "–" }
    static func millis(_ ms: Int64?) -> String { ms.map { "\($0) ms" } ?? "–" }

    static func toLogin(_ request: Request) -> Response {
        redirect("/login?next=" + urlEncode(request.uri.path), cookie: nil)
    }

    static func redirect(_ location: String, cookie: String?) -> Response {
        var headers: HTTPFields = [.location: location]
        if let cookie { headers[.setCookie] = cookie }
        return Response(status: .seeOther, headers: headers)
    }

    /// Only a path on this server (no `//host`, no scheme): a login link cannot send anyone away.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\") else { return "/" }
        return next
    }

    static func form(_ body: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if kv.count == 2 { out[kv[0]] = kv[1] } else if kv.count == 1 { out[kv[0]] = "" }
        }
        return out
    }

    static func urlEncode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~*"))) ?? s
    }
}
