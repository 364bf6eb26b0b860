import CLua
import CLuaShim

/// Moves values between Swift and a Lua stack using only API calls that cannot raise
/// (raw table access, no metamethods), as the longjmp rule requires of host code.
enum LuaValues {
    /// Pushes `value`; JSON null becomes `json.null` (a light userdata) inside arrays and is left
    /// out of objects, so `event.data.missing == nil` reads naturally.
    static func push(_ value: JSONValue, on L: OpaquePointer) {
        _ = lua_checkstack(L, 4)
        switch value {
        case .null: lua_pushlightuserdata(L, nil)
        case .bool(let b): lua_pushboolean(L, b ? 1 : 0)
        case .int(let i): lua_pushinteger(L, i)
        case .double(let d): lua_pushnumber(L, d)
        case .string(let s): pushString(s, on: L)
        case .array(let a):
            lua_createtable(L, Int32(clamping: a.count), 0)
            for (i, v) in a.enumerated() {
                push(v, on: L)
                lua_rawseti(L, -2, lua_Integer(i + 1))
            }
        case .object(let o):
            lua_createtable(L, 0, Int32(clamping: o.count))
            for (k, v) in o {
                if case .null = v { continue }
                pushString(k, on: L)
                push(v, on: L)
                lua_rawset(L, -3)
            }
        }
    }

    static func pushString(_ s: String, on L: OpaquePointer) {
        var s = s
        s.withUTF8 { buf in
            _ = buf.withMemoryRebound(to: CChar.self) { lua_pushlstring(L, $0.baseAddress, $0.count) }
        }
    }

    /// The raw bytes of the string at `idx` (Lua strings may hold any bytes).
    static func bytes(at idx: Int32, on L: OpaquePointer) -> [UInt8]? {
        guard lua_type(L, idx) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = sb_tostring(L, idx, &len) else { return nil }
        return p.withMemoryRebound(to: UInt8.self, capacity: len) { Array(UnsafeBufferPointer(start: $0, count: len)) }
    }

    static func pushBytes<C: Collection>(_ bytes: C, on L: OpaquePointer) where C.Element == UInt8 {
        let array = Array(bytes)
        array.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
        }
    }

    /// The bytes of the string at `idx`, lent to `body` (nil if it is not a string).
    private static func withStringBytes<T>(at idx: Int32, on L: OpaquePointer, _ body: (UnsafeBufferPointer<UInt8>) -> T?) -> T? {
        guard lua_type(L, idx) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = sb_tostring(L, idx, &len) else { return nil }
        return p.withMemoryRebound(to: UInt8.self, capacity: len) { body(UnsafeBufferPointer(start: $0, count: len)) }
    }

    /// The string at `idx` without conversion of numbers in place, or nil if it is not a string.
    static func string(at idx: Int32, on L: OpaquePointer) -> String? {
        withStringBytes(at: idx, on: L) { String(decoding: $0, as: UTF8.self) }
    }

    static func typeName(at idx: Int32, on L: OpaquePointer) -> String {
        String(cString: lua_typename(L, lua_type(L, idx)))
    }

    struct ConversionError: Error, CustomStringConvertible {
        let message: String
        /// Where in the value it happened, outermost first (`data`, `hosts`, `3`).
        var path: [String] = []
        /// Set when the run's budget ran out (the run has been tripped; the message is moot).
        var exhausted: WorkBudget.Exhausted?

        init(message: String, exhausted: WorkBudget.Exhausted? = nil) {
            self.message = message
            self.exhausted = exhausted
        }

        var description: String { path.isEmpty ? message : "\(message) (at \(path.joined(separator: ".")))" }

        func inside(_ key: String) -> ConversionError {
            var e = self
            e.path.insert(key, at: 0)
            return e
        }
    }

    /// The strict UTF-8 text of the string at `idx`; nil for a string that is not valid UTF-8
    /// (or not a string).
    static func validString(at idx: Int32, on L: OpaquePointer) -> String? {
        withStringBytes(at: idx, on: L) { String(validating: $0, as: UTF8.self) }
    }

    /// Reads the value at `idx` as JSON. Tables whose keys are exactly 1...n become arrays,
    /// other tables objects (number keys turned into strings); an empty table is an object.
    /// The work is charged to `budget`: a table that holds the same subtable many times is
    /// expanded into a tree, which can be exponentially larger than what the hook holds.
    static func json(at idx: Int32, on L: OpaquePointer, depth: Int = 0, seen: inout Set<UnsafeRawPointer>, budget: inout WorkBudget) throws(ConversionError) -> JSONValue {
        let idx = lua_absindex(L, idx)
        do { try budget.charge(WorkBudget.Cost.scalar) } catch { throw exhaust(L, error) }
        switch lua_type(L, idx) {
        case LUA_TNIL: return .null
        case LUA_TBOOLEAN: return .bool(lua_toboolean(L, idx) != 0)
        case LUA_TNUMBER:
            if sb_isinteger(L, idx) != 0 { return .int(lua_tointegerx(L, idx, nil)) }
            let d = lua_tonumberx(L, idx, nil)
            guard d.isFinite else { throw ConversionError(message: "cannot encode \(d) (JSON has no NaN or infinity)") }
            return .double(d)
        case LUA_TSTRING:
            var len = 0
            _ = sb_tostring(L, idx, &len)
            do { try budget.charge(WorkBudget.Cost.stringOverhead + len) } catch { throw exhaust(L, error) }
            guard let text = validString(at: idx, on: L) else {
                throw ConversionError(message: "a string is not valid UTF-8 (binary data? encode it with crypto.base64_encode or crypto.hex)")
            }
            return .string(text)
        case LUA_TLIGHTUSERDATA where lua_touserdata(L, idx) == nil: return .null
        case LUA_TTABLE:
            guard depth < JSONValue.maxDepth else { throw ConversionError(message: "nesting deeper than \(JSONValue.maxDepth) levels") }
            guard let ptr = lua_topointer(L, idx) else { return .null }
            guard !seen.contains(ptr) else { throw ConversionError(message: "cannot encode a table that contains itself") }
            seen.insert(ptr)
            defer { seen.remove(ptr) }
            guard lua_checkstack(L, 4) != 0 else { throw ConversionError(message: "value too deep") }
            do { try budget.charge(WorkBudget.Cost.container) } catch { throw exhaust(L, error) }
            var entries: [(key: JSONKey, value: JSONValue)] = []
            var allIntegerKeys = true
            lua_pushnil(L)
            while lua_next(L, idx) != 0 {
                let key: JSONKey
                switch lua_type(L, -2) {
                case LUA_TSTRING:
                    guard let text = validString(at: -2, on: L) else {
                        sb_pop(L, 2)
                        throw ConversionError(message: "a table key is not valid UTF-8")
                    }
                    key = .string(text)
                    allIntegerKeys = false
                case LUA_TNUMBER where sb_isinteger(L, -2) != 0:
                    key = .int(lua_tointegerx(L, -2, nil))
                default:
                    let name = typeName(at: -2, on: L)
                    sb_pop(L, 2)
                    throw ConversionError(message: "cannot encode a table key of type \(name)")
                }
                let value: JSONValue
                do {
                    try budget.charge(WorkBudget.Cost.entry)
                    value = try json(at: -1, on: L, depth: depth + 1, seen: &seen, budget: &budget)
                } catch let error as ConversionError {
                    sb_pop(L, 2)
                    throw error.exhausted == nil ? error.inside(key.text) : error
                } catch {
                    sb_pop(L, 2)
                    throw exhaust(L, error as! WorkBudget.Exhausted)
                }
                entries.append((key, value))
                sb_pop(L, 1)
            }
            if allIntegerKeys && !entries.isEmpty {
                let sorted = entries.sorted { $0.key.int! < $1.key.int! }
                if sorted.enumerated().allSatisfy({ $0.element.key.int! == Int64($0.offset + 1) }) {
                    return .array(sorted.map(\.value))
                }
            }
            var object: [String: JSONValue] = [:]
            for e in entries { object[e.key.text] = e.value }
            return .object(object)
        default:
            throw ConversionError(message: "cannot encode a \(typeName(at: idx, on: L))")
        }
    }

    /// Trips the run whose budget ran out (the trampoline raises the kill once the host call
    /// returns) and describes it.
    static func exhaust(_ L: OpaquePointer, _ why: WorkBudget.Exhausted) -> ConversionError {
        HostFunctions.trip(L, why)
        return ConversionError(message: why == .memory ? "the value is larger than the run's memory limit allows" : "the run's time ran out", exhausted: why)
    }

    static func json(at idx: Int32, on L: OpaquePointer) throws(ConversionError) -> JSONValue {
        var seen = Set<UnsafeRawPointer>()
        var budget = HostFunctions.budget(L)
        return try json(at: idx, on: L, seen: &seen, budget: &budget)
    }

    enum JSONKey {
        case string(String)
        case int(Int64)
        var int: Int64? { if case .int(let i) = self { return i }; return nil }
        var text: String {
            switch self {
            case .string(let s): return s
            case .int(let i): return String(i)
            }
        }
    }

    /// A short, safe description of an error object: no user code (no __tostring) runs.
    static func errorText(at idx: Int32, on L: OpaquePointer) -> String {
        switch lua_type(L, idx) {
        case LUA_TSTRING: return string(at: idx, on: L) ?? ""
        case LUA_TNUMBER:
            if sb_isinteger(L, idx) != 0 { return String(lua_tointegerx(L, idx, nil)) }
            return String(lua_tonumberx(L, idx, nil))
        case LUA_TTABLE:
            let abs = lua_absindex(L, idx)
            for field in ["message", "msg", "error"] {
                pushString(field, on: L)
                lua_rawget(L, abs)
                if let s = string(at: -1, on: L) {
                    sb_pop(L, 1)
                    return s
                }
                sb_pop(L, 1)
            }
            return "(error object is a table)"
        case LUA_TNIL: return "(error object is nil)"
        default: return "(error object is a \(typeName(at: idx, on: L)))"
        }
    }
}
