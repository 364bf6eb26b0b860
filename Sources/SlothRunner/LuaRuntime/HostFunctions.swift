import CLua
import CLuaShim
import Foundation

/// An operation a hook waits for; its coroutine is suspended until the result arrives.
enum PendingOperation {
    case sleep(seconds: Double)
    /// Any asynchronous host work (HTTP, processes, the store, dispatch); the hook resumes with
    /// `true, value` on success or `false, message` on failure.
    case task(@Sendable () async -> Result<JSONValue, ModuleError>)
}

/// A module failure, raised as a Lua error with this message.
struct ModuleError: Error, Sendable {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Per-VM context handed to host functions; confined to the VM's executor thread.
final class HostContext {
    var run: ActiveRun?
    /// Output while a hook file is inspected (no run yet).
    var loadOutput = OutputBuffer(limit: 16 * 1024)

    func append(_ line: String) {
        if let run { run.output.append(line) } else { loadOutput.append(line) }
    }
}

/// The Swift functions Lua calls. Each follows the longjmp rule: it never raises, it returns
/// `SB_HOST_ERROR` with a message pushed, or `SB_HOST_YIELD`, and the C trampoline acts on that.
enum HostFunctions {
    /// The functions the prelude builds its base library and modules from (besides the
    /// modules' own, `ModuleFunctions.all`), by the name the prelude uses.
    static let preludeFunctions: [(String, sb_host_fn)] = [
        ("output", output), ("log", log), ("sleep", sleep), ("dispatch", dispatch), ("clock_now", clockNow),
        ("json_encode", jsonEncode), ("json_decode", jsonDecode),
    ]

    static func context(_ ctx: UnsafeMutableRawPointer?) -> HostContext {
        Unmanaged<HostContext>.fromOpaque(ctx!).takeUnretainedValue()
    }

    /// Suspends the calling hook on `work` (see `PendingOperation.task`).
    static func suspend(_ L: OpaquePointer, _ ctx: UnsafeMutableRawPointer?, _ name: String, _ work: @escaping @Sendable () async -> Result<JSONValue, ModuleError>) -> Int32 {
        guard let run = context(ctx).run else { return fail(L, "\(name): cannot wait while the hook file is loading") }
        guard canSuspend(L, run) else {
            return fail(L, "\(name): can only be called from the hook itself, not inside a coroutine, metamethod or iterator")
        }
        run.pending = .task(work)
        return SB_HOST_YIELD
    }

    /// Suspends on `perform` through the run's effect journal (`effects = "once"`): a call an
    /// earlier attempt completed here with these arguments returns its recorded result (and the
    /// output says so); otherwise it runs and, if `succeeded`, is recorded. Nil when the run has
    /// no journal (the caller performs the call as usual).
    static func suspendJournaled(
        _ L: OpaquePointer, _ ctx: UnsafeMutableRawPointer?, _ name: String, kind: String, summary: String, arguments: JSONValue,
        reusedNote: String, perform: @escaping @Sendable () async -> Result<JSONValue, ModuleError>,
        succeeded: @escaping @Sendable (JSONValue) -> Bool
    ) -> Int32? {
        guard let run = context(ctx).run, let journal = run.request.effectJournal else { return nil }
        let call = journal.call(kind: kind, summary: summary, arguments: arguments)
        if let recorded = call.recorded {
            context(ctx).append("[effects] \(name) #\(call.position) (\(summary.dropFirst(kind.count + 1))) completed in attempt \(recorded.attempt): \(reusedNote)")
            return suspend(L, ctx, name) {
                await journal.reused(call)
                return .success(recorded.result)
            }
        }
        let revealed = run.revealed
        return suspend(L, ctx, name) {
            let result = await perform()
            if case .success(let value) = result { await journal.completed(call, result: value, succeeded: succeeded(value), revealed: revealed) }
            return result
        }
    }

    /// The permission policy of the running hook (open while a file is inspected).
    static func policy(_ ctx: UnsafeMutableRawPointer?) -> PermissionPolicy {
        context(ctx).run?.request.permissions ?? .open
    }

    /// The running hook's sandbox (a what-if or test-case run), if it has one.
    static func sandbox(_ ctx: UnsafeMutableRawPointer?) -> HookSandbox? {
        context(ctx).run?.request.sandbox
    }

    /// `os.time()` and `os.date()` without a time: a test case's fixed clock (Unix seconds),
    /// or nil for the real one.
    static let clockNow: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        if let seconds = sandbox(ctx)?.clockSeconds { lua_pushinteger(L, lua_Integer(seconds.rounded(.down))) } else { lua_pushnil(L) }
        return 1
    }

    static func fail(_ L: OpaquePointer, _ message: String) -> Int32 {
        LuaValues.pushString(message, on: L)
        return SB_HOST_ERROR
    }

    /// What host code working for the running hook may still spend: the memory left under the
    /// run's cap and the run's deadline.
    static func budget(_ L: OpaquePointer) -> WorkBudget {
        guard let S = sb_getstate(L) else { return .unlimited }
        let limit = S.pointee.mem_limit, used = S.pointee.mem_used
        let bytes = limit == 0 ? Int.max : (limit > used ? Int(clamping: limit - used) : 0)
        return WorkBudget(deadline: S.pointee.deadline, bytes: bytes)
    }

    /// Marks the running hook as over its memory or time limit. The trampoline raises the kill
    /// as soon as the host function returns, whatever it returns, beyond the reach of pcall.
    static func trip(_ L: OpaquePointer, _ why: WorkBudget.Exhausted) {
        guard let S = sb_getstate(L), S.pointee.trip == SB_TRIP_NONE else { return }
        S.pointee.trip = why == .memory ? SB_TRIP_MEMORY : SB_TRIP_TIMEOUT
    }

    /// Fails the call because the run's budget ran out (see `trip`).
    static func exhausted(_ L: OpaquePointer, _ why: WorkBudget.Exhausted) -> Int32 {
        trip(L, why)
        return fail(L, why == .memory ? "memory limit exceeded" : "timeout")
    }

    /// Seconds an operation a hook waits for may take at most: what it asked for, but never
    /// past the run's own deadline (plus a second, so the run's timeout is what ends it).
    static func operationTimeout(_ requested: Double, _ ctx: UnsafeMutableRawPointer?) -> Double {
        var t = requested.isFinite ? max(0.001, requested) : 86_400
        t = min(t, 86_400)
        if let run = context(ctx).run { t = min(t, max(0.001, run.deadline - sb_now() + 1)) }
        return t
    }

    /// Why `value` may not be stored (an event's data, a state value): it holds a secret the run
    /// has read. Events and state are shown by `events get` and `state get`, in plain text, to
    /// anyone who can read the database; hooks pass a secret's name and read the value where it
    /// is needed.
    static func secretInStoredValue(_ run: ActiveRun, _ value: JSONValue, what: String, fn: String) -> String? {
        guard let revealed = run.revealedIfAny, let leak = revealed.mask.leak(in: value) else { return nil }
        let place = leak.path.isEmpty ? "" : " (at \(leak.path))"
        return "\(fn): refusing to store the value of secret '\(leak.secret)' in \(what)\(place): it would be readable in plain text; pass the secret's name instead and read it with secret.get where it is needed"
    }

    /// Whether `L` may suspend to Swift: only the run's own thread, and only where Lua allows it.
    static func canSuspend(_ L: OpaquePointer, _ run: ActiveRun) -> Bool {
        L == run.thread && lua_isyieldable(L) != 0
    }

    static let output: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        context(ctx).append(LuaValues.string(at: 1, on: L) ?? "")
        return 0
    }

    static let log: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        let levelName = LuaValues.string(at: 1, on: L) ?? "info"
        let message = LuaValues.string(at: 2, on: L) ?? ""
        var line = "[\(levelName.uppercased())] " + message
        var fields: JSONValue?
        if lua_type(L, 3) == LUA_TTABLE {
            do {
                let f = try LuaValues.json(at: 3, on: L)
                fields = f
                line += " " + f.serialized()
            } catch {
                return fail(L, "log: cannot encode fields: \(error)")
            }
        }
        let context = context(ctx)
        context.append(line)
        if let run = context.run, let logger = run.request.logger {
            HookLog.forward(levelName, message, fields, run: run, to: logger)
        }
        return 0
    }

    static let sleep: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard lua_type(L, 1) == LUA_TNUMBER else {
            return fail(L, "sleep: expected a number of seconds, got \(LuaValues.typeName(at: 1, on: L))")
        }
        let seconds = lua_tonumberx(L, 1, nil)
        guard seconds.isFinite, seconds >= 0 else { return fail(L, "sleep: seconds must be a non-negative number") }
        guard let run = context(ctx).run else { return fail(L, "sleep: cannot wait while the hook file is loading") }
        // Sleeping past the run's deadline ends at the deadline anyway; clamping keeps every
        // timer representable (a year of nanoseconds fits, 1e300 s does not).
        let clamped = min(seconds, max(0, run.deadline - sb_now()) + 1)
        guard canSuspend(L, run) else {
            return fail(L, "sleep: can only be called from the hook itself, not inside a coroutine, metamethod or iterator")
        }
        run.pending = .sleep(seconds: clamped)
        return SB_HOST_YIELD
    }

    static let dispatch: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let run = context(ctx).run else { return fail(L, "cannot dispatch while the hook file is loading") }
        guard let type = LuaValues.string(at: 1, on: L) else {
            return fail(L, "expected an event type string as first argument, got \(LuaValues.typeName(at: 1, on: L))")
        }
        if let problem = EventTypeName.problem(with: type) { return fail(L, problem) }
        var data = JSONValue.object([:])
        if lua_type(L, 2) > LUA_TNIL {
            guard lua_type(L, 2) == LUA_TTABLE else { return fail(L, "event data must be a table, got \(LuaValues.typeName(at: 2, on: L))") }
            do { data = try LuaValues.json(at: 2, on: L) } catch { return fail(L, "cannot encode event data: \(error)") }
            if case .array = data { return fail(L, "event data must be a table with named fields, not a list") }
        }
        if let problem = secretInStoredValue(run, data, what: "the event data", fn: "event.dispatch") { return fail(L, problem) }
        var stack = run.request.eventStack
        if case .string(let s)? = data["stack"] { stack = s }
        var idempotencyKey: String?
        var keyWindow = IdempotencyKey.defaultWindowMillis
        if lua_type(L, 3) > LUA_TNIL {
            guard lua_type(L, 3) == LUA_TTABLE, case .object(let options)? = try? LuaValues.json(at: 3, on: L) else {
                return fail(L, "options must be a table like { stack = \"prod\", idempotency_key = \"deploy-42\" }")
            }
            if let unknown = ModuleOptions.unknownKey(in: options, known: ["stack", "idempotency_key", "idempotency_window"]) { return fail(L, unknown.message) }
            if let s = options["stack"]?.stringValue { stack = s }
            if let key = options["idempotency_key"] {
                guard let k = key.stringValue else { return fail(L, "idempotency_key must be a string") }
                do throws(SlothError) { try IdempotencyKey.validate(k, field: "idempotency_key") } catch { return fail(L, error.description) }
                idempotencyKey = k
            }
            if let window = options["idempotency_window"] {
                let seconds: Double
                switch window {
                case .int(let i): seconds = Double(i)
                case .double(let d): seconds = d
                case .string(let text):
                    guard let s = try? DurationText.parseSeconds(text) else { return fail(L, "idempotency_window: '\(text)' is not a duration (90s, 24h)") }
                    seconds = s
                default: return fail(L, "idempotency_window must be seconds or a duration like \"24h\"")
                }
                guard seconds.isFinite, seconds >= 1, seconds <= 30 * 86_400 else { return fail(L, "idempotency_window must be from 1 s to 30 days") }
                guard idempotencyKey != nil else { return fail(L, "idempotency_window needs an idempotency_key") }
                keyWindow = Int64(seconds * 1000)
            }
        }
        let depth = run.request.chainDepth + 1
        if depth > run.request.maxChainDepth {
            return fail(L, "refusing to dispatch '\(type)': the chain of events dispatched by hooks would be \(depth) deep, over the limit of \(run.request.maxChainDepth) (a hook loop?)")
        }
        guard run.dispatched < run.request.maxDispatchesPerRun else {
            return fail(L, "refusing to dispatch '\(type)': this run has dispatched \(run.dispatched) events, the most one run may (serve --max-dispatches-per-run)")
        }
        run.dispatched += 1
        let eventID = run.request.event.id
        // Keyed by (parent, hook, position): run again after a failure or a crash, the run's
        // n-th dispatch finds the child its earlier run stored and stores nothing new.
        // With an idempotency key, the key is the origin instead: the same key from any run of
        // any hook (or the CLI, or the API) within its window names one event.
        let origin = idempotencyKey.map(IdempotencyKey.origin) ?? eventID.map { "\($0)/\(run.request.hookID)/\(run.dispatched)" }
        var keyed = NewEvent(type: type, data: data, stack: stack, parentID: eventID, chainDepth: depth, originKey: origin)
        if idempotencyKey != nil { keyed.keyWindowMillis = keyWindow }
        let newEvent = keyed
        do { _ = try newEvent.validated() } catch { return fail(L, "\(error)") }
        guard let dispatcher = run.request.dispatcher else { return fail(L, "dispatching events is not available here") }
        return suspend(L, ctx, "event.dispatch") {
            switch await dispatcher(newEvent) {
            case .success(let id): return .success(.string(id))
            case .failure(let error): return .failure(ModuleError(error.description))
            }
        }
    }

    static let jsonEncode: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        do {
            let value = try LuaValues.json(at: 1, on: L)
            let pretty = lua_type(L, 2) == LUA_TBOOLEAN && lua_toboolean(L, 2) != 0
            LuaValues.pushString(value.serialized(pretty: pretty), on: L)
            return 1
        } catch {
            return fail(L, "json.encode: \(error)")
        }
    }

    static let jsonDecode: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let text = LuaValues.bytes(at: 1, on: L) else {
            return fail(L, "json.decode: expected a string, got \(LuaValues.typeName(at: 1, on: L))")
        }
        var allowance = budget(L)
        do {
            let value = try JSONValue.parse(bytes: text, budget: &allowance)
            LuaValues.push(value, on: L)
            return 1
        } catch let error as JSONParseError {
            if let why = error.exhausted { return exhausted(L, why) }
            return fail(L, "json.decode: \(error)")
        } catch {
            return fail(L, "json.decode: \(error)")
        }
    }
}
