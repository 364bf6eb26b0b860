import Foundation
import Hummingbird
import NIOCore
import SlothRunner

/// `/api/v1/hooks`: list, register (the same validation as `hook add`: `422` with the line of a
/// Lua error), show with source and statistics, replace, remove, enable/disable, history, and
/// the dry run of `hook test`.
struct HookRoutes {
    let engine: Engine
    let maxBodyBytes: Int

    static let endpoints: [(HTTPRequest.Method, String)] = [
        (.get, "hooks"), (.post, "hooks"), (.post, "hooks/test"), (.get, "hooks/{name}"), (.put, "hooks/{name}"),
        (.delete, "hooks/{name}"), (.post, "hooks/{name}/enable"), (.post, "hooks/{name}/disable"), (.get, "hooks/{name}/history"),
    ]

    /// The fields of a JSON registration besides `source`: `hook add`'s flags.
    static let overrideFields: Set<String> = [
        "name", "event_types", "stack", "description", "enabled", "max_attempts", "retry_delay_seconds", "timeout_seconds",
    ]

    func register(on api: RouterGroup<APIRequestContext>) {
        api.get("hooks", use: list)
        api.post("hooks", use: add)
        api.post("hooks/test", use: test)
        api.get("hooks/{name}", use: show)
        api.put("hooks/{name}", use: replace)
        api.delete("hooks/{name}", use: remove)
        api.post("hooks/{name}/enable") { request, context in try await setEnabled(true, context) }
        api.post("hooks/{name}/disable") { request, context in try await setEnabled(false, context) }
        api.get("hooks/{name}/history", use: history)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let query = try QueryParameters(request, known: ["stack", "event_type", "enabled"])
        var enabled: Bool?
        if let raw = query.text("enabled") {
            guard let b = Bool(raw) else { throw APIError.badRequest("invalid_parameter", "enabled must be true or false, not '\(raw)'") }
            enabled = b
        }
        let hooks = try await engine.store.listHooks(HookFilter(stack: query.text("stack"), eventType: query.text("event_type"), enabled: enabled))
        return JSONResponse.make(status: .ok, .object(["hooks": .array(hooks.map { $0.json(stats: nil) })]))
    }

    /// The Lua source as the body (any content type but JSON; `hook add`'s flags as query
    /// parameters), or `{"source": "...", "name": ..., ...}` as JSON.
    @Sendable func add(_ request: Request, context: APIRequestContext) async throws -> Response {
        let (source, overrides) = try await registration(request)
        let loaded = try await HookLoader.load(source: source, filePath: (overrides.name ?? "api") + ".lua", overrides: overrides, runtime: engine.runtime)
        try await engine.store.addHook(loaded.hook)
        try await engine.reloadHooks()
        return JSONResponse.make(status: .created, hookAnswer(loaded.hook, warnings: loaded.warnings))
    }

    @Sendable func replace(_ request: Request, context: APIRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let existing = try await engine.store.hook(named: name) else { throw APIError.notFound("no hook named '\(name)'") }
        var (source, overrides) = try await registration(request)
        if let given = overrides.name, given != name {
            throw APIError.unprocessable("invalid_input", "a hook cannot be renamed by PUT; remove it and register it again")
        }
        overrides.name = name
        if overrides.enabled == nil { overrides.enabled = existing.enabled }
        let loaded = try await HookLoader.load(source: source, filePath: existing.filePath, overrides: overrides, runtime: engine.runtime, existing: existing)
        try await engine.store.replaceHook(loaded.hook)
        try await engine.reloadHooks()
        return JSONResponse.make(status: .ok, hookAnswer(loaded.hook, warnings: loaded.warnings))
    }

    @Sendable func show(_ request: Request, context: APIRequestContext) async throws -> Response {
        let hook = try await named(context)
        let stats = try await engine.store.hookStats(hookID: hook.id)
        guard case .object(var o) = hook.json(stats: stats) else { throw APIError(.internalServerError, "internal", "hook JSON") }
        o["source"] = .string(hook.source)
        return JSONResponse.make(status: .ok, .object(o))
    }

    @Sendable func remove(_ request: Request, context: APIRequestContext) async throws -> Response {
        let hook = try await named(context)
        try await engine.store.removeHook(name: hook.name)
        try await engine.reloadHooks()
        return Response(status: .noContent)
    }

    func setEnabled(_ enabled: Bool, _ context: APIRequestContext) async throws -> Response {
        let hook = try await named(context)
        try await engine.store.setHookEnabled(name: hook.name, enabled: enabled)
        try await engine.reloadHooks()
        return JSONResponse.make(status: .ok, try await named(context).json(stats: nil))
    }

    @Sendable func history(_ request: Request, context: APIRequestContext) async throws -> Response {
        let query = try QueryParameters(request, known: ["limit", "failed"])
        let hook = try await named(context)
        let limit = try query.integer("limit", in: 1...1000, default: 20)
        let failedOnly = query.text("failed").map { $0 == "true" || $0 == "1" } ?? false
        let runs = try await engine.store.hookHistory(hookID: hook.id, limit: limit, failedOnly: failedOnly)
        return JSONResponse.make(status: .ok, .object(["hook": .string(hook.name), "executions": .array(runs.map(\.json))]))
    }

    /// `{"source": "..." | "name": "registered", "event": {type, data, stack}}`: runs the hook once,
    /// stores nothing (events it dispatches are listed, not stored; its state is a scratch one).
    @Sendable func test(_ request: Request, context: APIRequestContext) async throws -> Response {
        let body = try await request.jsonObject(limit: maxBodyBytes)
        if let unknown = body.keys.sorted().first(where: { !["source", "name", "event"].contains($0) }) {
            throw APIError.unprocessable("invalid_input", "unknown field '\(unknown)'\(Hint.didYouMean(unknown, among: ["source", "name", "event"])); a test is {source or name, event}")
        }
        let hook: Hook
        switch (body["source"], body["name"]) {
        case (.string(let source)?, nil):
            var overrides = HookOverrides()
            overrides.fallbackName = "test"
            hook = try await HookLoader.load(source: source, filePath: "test.lua", overrides: overrides, runtime: engine.runtime).hook
        case (nil, .string(let name)?):
            guard let found = try await engine.store.hook(named: name) else { throw APIError.notFound("no hook named '\(name)'") }
            hook = found
        default:
            throw APIError.unprocessable("invalid_input", "give the hook as \"source\" (Lua text) or \"name\" (a registered hook), one of the two")
        }
        guard case .object(let eventFields)? = body["event"] else {
            throw APIError.unprocessable("invalid_input", "\"event\" is required: {\"type\": ..., \"data\": {...}}")
        }
        let new = try EventRoutes.newEvent(from: eventFields, at: nil)
        let outcome: HookDryRun.Outcome
        do {
            outcome = try await HookDryRun.run(
                hook, with: new, runtime: engine.runtime, strictPermissions: engine.configuration.strictPermissions, secrets: engine.configuration.secrets)
        } catch {
            throw APIError(error)
        }
        return JSONResponse.make(status: .ok, outcome.json)
    }

    private func named(_ context: APIRequestContext) async throws -> Hook {
        let name = try context.parameters.require("name")
        guard let hook = try await engine.store.hook(named: name) else { throw APIError.notFound("no hook named '\(name)'") }
        return hook
    }

    private func hookAnswer(_ hook: Hook, warnings: [String]) -> JSONValue {
        guard case .object(var o) = hook.json(stats: nil) else { return hook.json(stats: nil) }
        o["warnings"] = .array(warnings.map(JSONValue.string))
        return .object(o)
    }

    /// The source and the overrides of a registration, from a JSON object or a raw body.
    private func registration(_ request: Request) async throws -> (String, HookOverrides) {
        let isJSON = request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true
        if isJSON {
            let body = try await request.jsonObject(limit: maxBodyBytes)
            if let unknown = body.keys.sorted().first(where: { $0 != "source" && !Self.overrideFields.contains($0) }) {
                throw APIError.unprocessable("invalid_input", "unknown field '\(unknown)'\(Hint.didYouMean(unknown, among: Self.overrideFields.union(["source"])))")
            }
            guard case .string(let source)? = body["source"] else {
                throw APIError.unprocessable("invalid_input", "\"source\" is required: the hook's Lua text")
            }
            var values: [String: String] = [:]
            for key in Self.overrideFields {
                switch body[key] {
                case .string(let s)?: values[key] = s
                case .int(let i)?: values[key] = String(i)
                case .double(let d)?: values[key] = String(d)
                case .bool(let b)?: values[key] = String(b)
                case .array(let items)? where key == "event_types": values[key] = items.compactMap(\.stringValue).joined(separator: ",")
                case nil, .null?: break
                case let other?: throw APIError.unprocessable("invalid_input", "\"\(key)\" cannot be \(other.typeName)")
                }
            }
            return (source, try Self.overrides(values))
        }
        let query = try QueryParameters(request, known: Self.overrideFields)
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: maxBodyBytes) } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "payload_too_large", "the hook source is larger than \(maxBodyBytes) bytes")
        }
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("empty_body", "send the hook's Lua source as the body") }
        guard let source = String(validatingUTF8: Array(buffer: buffer).map { CChar(bitPattern: $0) } + [0]) else {
            throw APIError.unprocessable("invalid_input", "the hook source is not UTF-8 text")
        }
        var values: [String: String] = [:]
        for key in Self.overrideFields { if let v = query.text(key) { values[key] = v } }
        return (source, try Self.overrides(values))
    }

    static func overrides(_ v: [String: String]) throws(APIError) -> HookOverrides {
        var o = HookOverrides()
        o.name = v["name"]
        o.eventTypes = v["event_types"].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        o.stack = v["stack"]
        o.description = v["description"]
        if let e = v["enabled"] {
            guard let b = Bool(e) else { throw APIError.unprocessable("invalid_input", "enabled must be true or false, not '\(e)'") }
            o.enabled = b
        }
        if let m = v["max_attempts"] {
            guard let n = Int(m), (1...100).contains(n) else { throw APIError.unprocessable("invalid_input", "max_attempts must be 1 to 100, not '\(m)'") }
            o.maxAttempts = n
        }
        for (key, path) in [("retry_delay_seconds", \HookOverrides.retryDelaySeconds), ("timeout_seconds", \HookOverrides.timeoutSeconds)] {
            if let raw = v[key] {
                guard let d = Double(raw), HookLimits.durationRange.contains(d) else {
                    throw APIError.unprocessable("invalid_input", "\(key) must be a number of seconds from 0.001 to 86400, not '\(raw)'")
                }
                o[keyPath: path] = d
            }
        }
        return o
    }
}
