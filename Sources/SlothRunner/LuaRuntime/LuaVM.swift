import CLua
import CLuaShim
import Foundation

/// One sandboxed Lua state with the prelude loaded and compiled hook chunks cached.
/// It runs one hook at a time and lives on one executor thread.
final class LuaVM {
    let state: UnsafeMutablePointer<sb_state>
    let L: OpaquePointer
    let context = HostContext()
    /// Runs whose coroutines live in this VM (running or suspended).
    var activeRuns = 0
    /// Set when a run was killed here: the VM takes no new runs and closes after its last one.
    var retired = false
    /// Memory in use once the prelude is loaded: no run can own more than what lies above it.
    private(set) var baselineBytes = 0
    private var runRef: Int32 = 0
    private var inspectRef: Int32 = 0
    /// Registry references to the event's field names, interned once: pushing a name by
    /// reference skips hashing and interning it again for every run.
    private var eventKeys: [Int32] = []
    private static let eventKeyNames = ["id", "type", "stack", "timestamp", "data", "attempt", "chain_depth", "parent_id"]
    private var chunks: [String: Int32] = [:]
    /// The chunk looked up last: most runs are of the same hook version as the one before.
    private var lastChunk: (hash: String, ref: Int32)?
    /// Coroutines of runs that returned normally, ready for another run (with their registry
    /// references): creating one costs an allocation of its stack and call info.
    private var spareThreads: [(thread: OpaquePointer, ref: Int32)] = []
    static let maxSpareThreads = 32
    static let hookInterval: Int32 = 1000
    static let maxCachedChunks = 256

    /// - Parameter activity: where host calls are recorded for the executor's watchdog.
    /// - Parameter testing: adds `require("testing")` (see `LuaRuntime.init(...testing:)`).
    init(activity: UnsafeMutablePointer<sb_activity>? = nil, testing: Bool = false) throws(SlothError) {
        state = .allocate(capacity: 1)
        state.initialize(to: sb_state())
        state.pointee.activity = activity
        guard let L = sb_newstate(state) else {
            state.deallocate()
            throw .runtime("cannot create a Lua state: out of memory")
        }
        self.L = L
        state.pointee.host_depth = 1  // set-up is trusted: the allocator must not fail here
        defer { state.pointee.host_depth = 0 }
        guard sb_openlibs(L) == LUA_OK else { throw .runtime("cannot open the Lua libraries") }
        try loadPrelude(testing: testing)
        for name in Self.eventKeyNames {
            LuaValues.pushString(name, on: L)
            eventKeys.append(luaL_ref(L, sb_registryindex()))
        }
        sb_install_hook(L, Self.hookInterval)
        baselineBytes = state.pointee.mem_used
    }

    deinit {
        sb_close(L, state)
        state.deinitialize(count: 1)
        state.deallocate()
    }

    private func loadPrelude(testing: Bool) throws(SlothError) {
        var source = luaPrelude
        let status = source.withUTF8 { buf in
            buf.withMemoryRebound(to: CChar.self) { sb_loadbuffer(L, $0.baseAddress, $0.count, "=prelude", "t") }
        }
        guard status == LUA_OK else { throw .runtime("prelude: \(LuaValues.string(at: -1, on: L) ?? "?")") }
        lua_createtable(L, 0, 40)
        let ctx = Unmanaged.passUnretained(context).toOpaque()
        func field(_ name: String, _ push: () -> Void) {
            LuaValues.pushString(name, on: L)
            push()
            lua_rawset(L, -3)
        }
        field("bind") { sb_push_bindfn(L) }
        field("null") { lua_pushlightuserdata(L, nil) }
        for (name, fn) in HostFunctions.preludeFunctions + ModuleFunctions.all + (testing ? TestingModule.functions : []) {
            field(name) { sb_push_host(L, fn, ctx, HostCallNames.pointer(name)) }
        }
        lua_rawgeti(L, sb_registryindex(), lua_Integer(LUA_RIDX_GLOBALS))
        guard sb_pcall(L, 2, 2) == LUA_OK else { throw .runtime("prelude: \(LuaValues.string(at: -1, on: L) ?? "?")") }
        inspectRef = luaL_ref(L, sb_registryindex())
        runRef = luaL_ref(L, sb_registryindex())
    }

    /// The compiled chunk of a hook version, loaded once per VM. A syntax error is returned as
    /// the message Lua gave (with the line number).
    func chunk(hash: String, source: String, chunkName: String) -> Result<Int32, SlothError> {
        if let last = lastChunk, last.hash == hash { return .success(last.ref) }
        if let ref = chunks[hash] {
            lastChunk = (hash, ref)
            return .success(ref)
        }
        if chunks.count >= Self.maxCachedChunks {
            for (_, ref) in chunks { luaL_unref(L, sb_registryindex(), ref) }
            chunks.removeAll()
            lastChunk = nil
        }
        state.pointee.host_depth += 1
        defer { state.pointee.host_depth -= 1 }
        var src = source
        let status = src.withUTF8 { buf in
            buf.withMemoryRebound(to: CChar.self) { sb_loadbuffer(L, $0.baseAddress, $0.count, "=" + chunkName, "t") }
        }
        guard status == LUA_OK else {
            let message = LuaValues.string(at: -1, on: L) ?? "cannot load the hook"
            sb_pop(L, 1)
            return .failure(.invalidHook("syntax error: \(message)"))
        }
        let ref = luaL_ref(L, sb_registryindex())
        chunks[hash] = ref
        lastChunk = (hash, ref)
        return .success(ref)
    }

    enum Entry { case run, inspect }

    /// Creates the coroutine of one run with its arguments pushed: (entry, chunk[, event]).
    func prepare(entry: Entry, chunk: Int32, event: HookRunEvent?) -> (thread: OpaquePointer, ref: Int32, nargs: Int32) {
        state.pointee.host_depth += 1
        defer { state.pointee.host_depth -= 1 }
        let co: OpaquePointer
        let ref: Int32
        if let spare = spareThreads.popLast() {
            (co, ref) = spare
        } else {
            co = lua_newthread(L)!
            ref = luaL_ref(L, sb_registryindex())
        }
        lua_rawgeti(co, sb_registryindex(), lua_Integer(entry == .run ? runRef : inspectRef))
        lua_rawgeti(co, sb_registryindex(), lua_Integer(chunk))
        if let event {
            pushEvent(event, on: co)
            return (co, ref, 2)
        }
        return (co, ref, 1)
    }

    /// An event as a table, field by field (in `eventKeyNames` order).
    private func pushEvent(_ event: HookRunEvent, on co: OpaquePointer) {
        guard case .event(let e) = event else {
            LuaValues.push(event.json, on: co)
            return
        }
        _ = lua_checkstack(co, 6)
        lua_createtable(co, 0, 8)
        func field(_ key: Int, _ push: () -> Void) {
            lua_rawgeti(co, sb_registryindex(), lua_Integer(eventKeys[key]))
            push()
            lua_rawset(co, -3)
        }
        field(0) { LuaValues.pushString(e.id, on: co) }
        field(1) { LuaValues.pushString(e.type, on: co) }
        if let stack = e.stack { field(2) { LuaValues.pushString(stack, on: co) } }
        field(3) { lua_pushinteger(co, e.timestamp) }
        field(4) { LuaValues.push(e.data, on: co) }
        field(5) { lua_pushinteger(co, lua_Integer(e.attempt)) }
        field(6) { lua_pushinteger(co, lua_Integer(e.chainDepth)) }
        if let parent = e.parentID { field(7) { LuaValues.pushString(parent, on: co) } }
    }

    func push(_ values: [JSONValue], on co: OpaquePointer) {
        state.pointee.host_depth += 1
        defer { state.pointee.host_depth -= 1 }
        for v in values { LuaValues.push(v, on: co) }
    }

    func resume(_ co: OpaquePointer, nargs: Int32, slice: Double, now: Double? = nil) -> (status: Int32, nresults: Int32) {
        state.pointee.preempted = 0
        state.pointee.slice_end = slice > 0 ? (now ?? sb_now()) + slice : 0
        var nres: Int32 = 0
        let status = lua_resume(co, nil, nargs, &nres)
        return (status, nres)
    }

    /// Releases a finished (or abandoned) run's coroutine; the collector reclaims it.
    /// A coroutine that returned normally is kept for a later run; one that failed or was
    /// abandoned mid-run is dropped.
    func release(thread co: OpaquePointer, ref: Int32) {
        let reusable = lua_status(co) == LUA_OK && spareThreads.count < Self.maxSpareThreads
        lua_settop(co, 0)
        if reusable {
            spareThreads.append((co, ref))
        } else {
            luaL_unref(L, sb_registryindex(), ref)
        }
    }

    var tripped: Int32 { state.pointee.trip }
}

/// What the watchdog and the limit messages call each host function ("yaml.decode" for the
/// prelude's `yaml_decode`): C strings made once per process, since the trampoline keeps
/// pointers to them for as long as any Lua state lives.
enum HostCallNames {
    /// Addresses rather than pointers, so the table is plainly Sendable; the strings are never
    /// freed or written.
    private static let addresses: [String: UInt] = {
        var table: [String: UInt] = [:]
        for (name, _) in HostFunctions.preludeFunctions + ModuleFunctions.all + TestingModule.functions {
            table[name] = UInt(bitPattern: strdup(display(name)))
        }
        return table
    }()

    static func pointer(_ name: String) -> UnsafePointer<CChar>? {
        addresses[name].flatMap { UnsafePointer(bitPattern: $0) }
    }

    /// `crypto_hmac_sha256` → `crypto.hmac_sha256`; `output` → `print`.
    static func display(_ name: String) -> String {
        switch name {
        case "output": return "print"
        case "dispatch": return "event.dispatch"
        case "sleep", "log": return name
        default:
            guard let underscore = name.firstIndex(of: "_") else { return name }
            return name[..<underscore] + "." + name[name.index(after: underscore)...]
        }
    }
}
