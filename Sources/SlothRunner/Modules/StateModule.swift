import CLua
import CLuaShim
import Foundation
import Synchronization

/// The key-value state one hook run may use: the engine's store, scoped to the hook's stack,
/// or an in-memory copy for `hook test`.
package protocol StateAccess: Sendable {
    func get(_ key: String) async throws -> JSONValue?
    func set(_ key: String, _ value: JSONValue, ttl: Double?) async throws
    func delete(_ key: String) async throws -> Bool
    func increment(_ key: String, by: Int64) async throws -> Int64
    func compareAndSet(_ key: String, expected: JSONValue?, value: JSONValue, ttl: Double?) async throws -> Bool
    func keys(prefix: String) async throws -> [String]
}

/// State in the engine's database, shared by every hook of one stack ('' for hooks without one).
package struct StoreState: StateAccess {
    package let store: any AtomicStateStore
    package let stack: String

    package init(store: any AtomicStateStore, stack: String) {
        self.store = store
        self.stack = stack
    }

    func expiry(_ ttl: Double?) -> Millis? { ttl.map { nowMillis() + Millis($0 * 1000) } }

    package func get(_ key: String) async throws -> JSONValue? { try await store.stateGet(stack: stack, key: key, now: nowMillis()) }
    package func set(_ key: String, _ value: JSONValue, ttl: Double?) async throws {
        try await store.stateSet(stack: stack, key: key, value: value, expiresAt: expiry(ttl), now: nowMillis())
    }
    package func delete(_ key: String) async throws -> Bool { try await store.stateDelete(stack: stack, key: key) }
    package func increment(_ key: String, by: Int64) async throws -> Int64 {
        try await store.stateIncrement(stack: stack, key: key, by: by, now: nowMillis())
    }
    package func compareAndSet(_ key: String, expected: JSONValue?, value: JSONValue, ttl: Double?) async throws -> Bool {
        try await store.stateCompareAndSet(stack: stack, key: key, expected: expected, value: value, expiresAt: expiry(ttl), now: nowMillis())
    }
    package func keys(prefix: String) async throws -> [String] {
        try await store.stateEntries(stack: stack, prefix: prefix, now: nowMillis()).map(\.key)
    }
}

/// State that lives only as long as one `hook test`: nothing is stored.
package final class MemoryState: StateAccess {
    private let values = Mutex<[String: JSONValue]>([:])
    package init() {}
    package func get(_ key: String) async throws -> JSONValue? { values.withLock { $0[key] } }
    package func set(_ key: String, _ value: JSONValue, ttl: Double?) async throws { values.withLock { $0[key] = value } }
    package func delete(_ key: String) async throws -> Bool { values.withLock { $0.removeValue(forKey: key) != nil } }
    package func increment(_ key: String, by: Int64) async throws -> Int64 {
        try values.withLock { v in
            let sum = try StateIncrement.sum(v[key], by: by, key: key)
            v[key] = .int(sum)
            return sum
        }
    }
    package func compareAndSet(_ key: String, expected: JSONValue?, value: JSONValue, ttl: Double?) async throws -> Bool {
        values.withLock { v in
            guard v[key] == expected else { return false }
            v[key] = value
            return true
        }
    }
    package func keys(prefix: String) async throws -> [String] { values.withLock { $0.keys.filter { $0.hasPrefix(prefix) }.sorted() } }
}

/// `state.get/set/delete/incr/compare_and_set/keys`: values are JSON; every write is atomic.
enum StateModule {
    static let maxKeyLength = 256

    static func access(_ L: OpaquePointer, _ ctx: UnsafeMutableRawPointer?, _ fn: String) -> (any StateAccess, String)? {
        guard let state = HostFunctions.context(ctx).run?.request.state else {
            LuaValues.pushString("\(fn): state is not available here", on: L)
            return nil
        }
        guard let key = LuaValues.string(at: 1, on: L), !key.isEmpty, key.utf8.count <= maxKeyLength else {
            LuaValues.pushString("\(fn): expected a key (a string of 1-\(maxKeyLength) bytes)", on: L)
            return nil
        }
        return (state, key)
    }

    static func value(_ L: OpaquePointer, _ idx: Int32, _ fn: String) -> JSONValue? {
        guard lua_type(L, idx) != LUA_TNIL, lua_type(L, idx) != LUA_TNONE else {
            LuaValues.pushString("\(fn): the value is nil (use state.delete to remove a key)", on: L)
            return nil
        }
        do { return try LuaValues.json(at: idx, on: L) } catch {
            LuaValues.pushString("\(fn): \(error)", on: L)
            return nil
        }
    }

    static func ttl(_ L: OpaquePointer, _ idx: Int32) -> Double?? {
        guard lua_type(L, idx) == LUA_TNUMBER else { return lua_type(L, idx) <= LUA_TNIL ? .some(nil) : nil }
        let t = lua_tonumberx(L, idx, nil)
        return t > 0 && t.isFinite ? .some(t) : nil
    }

    static func run(_ work: @escaping @Sendable () async throws -> JSONValue) -> @Sendable () async -> Result<JSONValue, ModuleError> {
        {
            do { return .success(try await work()) } catch { return .failure(ModuleError("\(error)")) }
        }
    }

    static let get: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (state, key) = access(L, ctx, "state.get") else { return SB_HOST_ERROR }
        return HostFunctions.suspend(L, ctx, "state.get", run { try await state.get(key) ?? .null })
    }

    /// Refuses (message pushed, nil returned) a key or value that holds a secret the run read.
    static func noSecret(_ L: OpaquePointer, _ ctx: UnsafeMutableRawPointer?, key: String, value: JSONValue, _ fn: String) -> Bool {
        guard let run = HostFunctions.context(ctx).run else { return true }
        if let problem = HostFunctions.secretInStoredValue(run, .object([key: value]), what: "state", fn: fn) {
            LuaValues.pushString(problem, on: L)
            return false
        }
        return true
    }

    static let set: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (state, key) = access(L, ctx, "state.set"), let v = value(L, 2, "state.set") else { return SB_HOST_ERROR }
        guard noSecret(L, ctx, key: key, value: v, "state.set") else { return SB_HOST_ERROR }
        guard let t = ttl(L, 3) else { return HostFunctions.fail(L, "state.set: ttl must be a positive number of seconds") }
        return HostFunctions.suspend(L, ctx, "state.set", run { try await state.set(key, v, ttl: t); return .bool(true) })
    }

    static let delete: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (state, key) = access(L, ctx, "state.delete") else { return SB_HOST_ERROR }
        return HostFunctions.suspend(L, ctx, "state.delete", run { .bool(try await state.delete(key)) })
    }

    static let incr: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (state, key) = access(L, ctx, "state.incr") else { return SB_HOST_ERROR }
        var by: Int64 = 1
        if lua_type(L, 2) != LUA_TNIL && lua_type(L, 2) != LUA_TNONE {
            guard sb_isinteger(L, 2) != 0 else { return HostFunctions.fail(L, "state.incr: the increment must be an integer") }
            by = lua_tointegerx(L, 2, nil)
        }
        let amount = by
        return HostFunctions.suspend(L, ctx, "state.incr", run { .int(try await state.increment(key, by: amount)) })
    }

    static let compareAndSet: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (state, key) = access(L, ctx, "state.compare_and_set") else { return SB_HOST_ERROR }
        var expected: JSONValue?
        if lua_type(L, 2) != LUA_TNIL {
            do { expected = try LuaValues.json(at: 2, on: L) } catch { return HostFunctions.fail(L, "state.compare_and_set: \(error)") }
        }
        guard let v = value(L, 3, "state.compare_and_set") else { return SB_HOST_ERROR }
        guard noSecret(L, ctx, key: key, value: v, "state.compare_and_set") else { return SB_HOST_ERROR }
        guard let t = ttl(L, 4) else { return HostFunctions.fail(L, "state.compare_and_set: ttl must be a positive number of seconds") }
        let old = expected
        return HostFunctions.suspend(L, ctx, "state.compare_and_set", run { .bool(try await state.compareAndSet(key, expected: old, value: v, ttl: t)) })
    }

    static let keys: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let state = HostFunctions.context(ctx).run?.request.state else { return HostFunctions.fail(L, "state.keys: state is not available here") }
        let prefix = LuaValues.string(at: 1, on: L) ?? ""
        return HostFunctions.suspend(L, ctx, "state.keys", run { .array(try await state.keys(prefix: prefix).map(JSONValue.string)) })
    }
}
