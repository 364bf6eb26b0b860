import Hummingbird
import SlothRunner

/// The rest of what the store holds: the event type catalog, the state hooks share per stack,
/// and the names of the secrets (never their values).
///
/// State keys are addressed as `/state/{stack}/{key}`; `-` is the namespace of hooks without a
/// stack (a path segment cannot be empty).
struct StoreRoutes {
    let engine: Engine
    let maxBodyBytes: Int

    static let defaultStack = "-"
    static let endpoints: [(HTTPRequest.Method, String)] = [
        (.get, "types"), (.get, "state"), (.get, "state/{stack}/{key}"), (.put, "state/{stack}/{key}"), (.delete, "state/{stack}/{key}"),
        (.get, "secrets"), (.put, "secrets/{name}"), (.delete, "secrets/{name}"),
    ]

    func register(on api: RouterGroup<APIRequestContext>) {
        api.get("types", use: types)
        api.get("state", use: listState)
        api.get("state/{stack}/{key}", use: getState)
        api.put("state/{stack}/{key}", use: putState)
        api.delete("state/{stack}/{key}", use: deleteState)
        api.get("secrets", use: secrets)
        api.put("secrets/{name}", use: putSecret)
        api.delete("secrets/{name}", use: deleteSecret)
    }

    @Sendable func types(_ request: Request, context: APIRequestContext) async throws -> Response {
        let query = try QueryParameters(request, known: ["category"])
        let category = query.text("category")
        let entries = EventCatalog.entries.filter { category == nil || $0.category == category }
        if entries.isEmpty, let category {
            let known = Set(EventCatalog.entries.map(\.category)).sorted()
            throw APIError.notFound("no category '\(category)'\(Hint.didYouMean(category, among: known)); categories: \(known.joined(separator: ", "))")
        }
        return JSONResponse.make(status: .ok, .object(["types": .array(entries.map(\.json))]))
    }

    @Sendable func listState(_ request: Request, context: APIRequestContext) async throws -> Response {
        let query = try QueryParameters(request, known: ["stack", "prefix"])
        let stack = query.text("stack").map { $0 == Self.defaultStack ? "" : $0 }
        let entries = try await engine.store.stateEntries(stack: stack, prefix: query.text("prefix") ?? "", now: nowMillis())
        return JSONResponse.make(status: .ok, .object(["entries": .array(entries.map(\.json))]))
    }

    @Sendable func getState(_ request: Request, context: APIRequestContext) async throws -> Response {
        let (stack, key) = try address(context)
        guard let value = try await engine.store.stateGet(stack: stack, key: key, now: nowMillis()) else {
            throw APIError.notFound("no state '\(key)' in \(stack.isEmpty ? "the default namespace" : "stack \(stack)")")
        }
        return JSONResponse.make(status: .ok, .object(["stack": .string(stack), "key": .string(key), "value": value]))
    }

    /// `{"value": any JSON, "ttl": "1h"?}`.
    @Sendable func putState(_ request: Request, context: APIRequestContext) async throws -> Response {
        let (stack, key) = try address(context)
        let body = try await request.jsonObject(limit: maxBodyBytes)
        if let unknown = body.keys.sorted().first(where: { $0 != "value" && $0 != "ttl" }) {
            throw APIError.unprocessable("invalid_input", "unknown field '\(unknown)'\(Hint.didYouMean(unknown, among: ["value", "ttl"])); state is {value, ttl}")
        }
        guard let value = body["value"] else { throw APIError.unprocessable("invalid_input", "\"value\" is required (any JSON)") }
        let now = nowMillis()
        var expires: Millis?
        switch body["ttl"] {
        case nil, .null?: expires = nil
        case .string(let text)?:
            do { expires = now + (try DurationText.millis(text, for: "ttl", in: 0.001...DurationText.maxSeconds)) } catch { throw APIError(error) }
        case .int(let seconds)? where seconds > 0: expires = now + seconds * 1000
        case let other?: throw APIError.unprocessable("invalid_input", "\"ttl\" is a duration such as \"10m\" or a number of seconds, not \(other.typeName)")
        }
        try await engine.store.stateSet(stack: stack, key: key, value: value, expiresAt: expires, now: now)
        var o: [String: JSONValue] = ["stack": .string(stack), "key": .string(key), "value": value]
        JSONValue.stamp(&o, "expires_at", expires)
        return JSONResponse.make(status: .ok, .object(o))
    }

    @Sendable func deleteState(_ request: Request, context: APIRequestContext) async throws -> Response {
        let (stack, key) = try address(context)
        guard try await engine.store.stateDelete(stack: stack, key: key) else {
            throw APIError.notFound("no state '\(key)' in \(stack.isEmpty ? "the default namespace" : "stack \(stack)")")
        }
        return Response(status: .noContent)
    }

    @Sendable func secrets(_ request: Request, context: APIRequestContext) async throws -> Response {
        _ = try QueryParameters(request, known: [])
        let all = try await engine.store.secretList()
        return JSONResponse.make(status: .ok, .object(["secrets": .array(all.map(\.json))]))
    }

    /// `{"value": "..."}`: sealed and stored (replacing any); the answer holds the name and
    /// dates only. Admin: a secret reaches every hook allowed to read it.
    @Sendable func putSecret(_ request: Request, context: APIRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let body = try await request.jsonObject(limit: min(maxBodyBytes, SecretVault.maxValueBytes * 2 + 1024))
        if let unknown = body.keys.sorted().first(where: { $0 != "value" }) {
            throw APIError.unprocessable("invalid_input", "unknown field '\(unknown)'\(Hint.didYouMean(unknown, among: ["value"])); a secret is {\"value\": \"...\"}")
        }
        guard case .string(let value)? = body["value"] else { throw APIError.unprocessable("invalid_input", "\"value\" is required, as a string") }
        guard let vault = engine.configuration.secrets else {
            throw APIError(.serviceUnavailable, "secrets_unavailable", "this server has no secret vault")
        }
        do { try await vault.set(name, value: value) } catch let error as SlothError { throw APIError(error) }
        guard let info = try await engine.store.secretList().first(where: { $0.name == name }) else {
            throw APIError(.internalServerError, "internal", "the secret was stored but is not listed")
        }
        return JSONResponse.make(status: .ok, info.json)
    }

    @Sendable func deleteSecret(_ request: Request, context: APIRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard try await engine.store.secretDelete(name: name) else { throw APIError.notFound("no secret named '\(name)'") }
        return Response(status: .noContent)
    }

    private func address(_ context: APIRequestContext) throws -> (String, String) {
        // Path parameters arrive as sent (query values come decoded): decode each once.
        let rawStack = try context.parameters.require("stack")
        let stack = rawStack.removingPercentEncoding ?? rawStack
        let key = try context.parameters.require("key")
        let decodedKey = key.removingPercentEncoding ?? key
        guard !decodedKey.isEmpty, decodedKey.utf8.count <= 256 else { throw APIError.badRequest("invalid_parameter", "a state key is 1 to 256 bytes") }
        return (stack == Self.defaultStack ? "" : stack, decodedKey)
    }
}
