import Foundation
import Synchronization

/// One run of a hook against an event that stores nothing — `hook test` and `POST
/// /api/v1/hooks/test`: events it dispatches are collected, not stored; its state is a scratch
/// one; its secrets are the vault's.
package enum HookDryRun {
    package struct Outcome: Sendable {
        package var hook: Hook
        package var event: Event
        package var result: HookRunResult
        package var dispatched: [NewEvent]

        /// Why the hook would not run for this event in the engine (its types, stack or
        /// filter), if so — the rule `events explain` applies.
        package var mismatch: String? {
            EventExplainer.mismatch(hook, event).map { "hook '\(hook.name)' would not run for this event: \($0.detail)" }
        }

        /// `hook test -o json`, and the API's answer.
        package var json: JSONValue {
            let r = result
            return .object([
                "hook": .string(hook.name), "success": .bool(r.success), "message": r.message.map(JSONValue.string) ?? .null,
                "output": .string(r.output), "duration_ms": .int(r.durationMillis), "instructions": .int(r.usage.instructions),
                "peak_memory_bytes": .int(Int64(r.usage.peakMemoryBytes)),
                "warnings": .array(mismatch.map { [.string($0)] } ?? []),
                "dispatched": .array(dispatched.map { .object(["type": .string($0.type), "data": $0.data, "stack": $0.stack.map(JSONValue.string) ?? .null]) }),
            ])
        }
    }

    package static func run(
        _ hook: Hook, with new: NewEvent, runtime: LuaRuntime, strictPermissions: Bool, secrets: (any SecretReading)?
    ) async throws(SlothError) -> Outcome {
        _ = try new.validated()
        let now = nowMillis()
        let event = Event(id: EventID.make(millis: now), type: new.type, stack: new.stack, timestamp: now, data: new.data, createdAt: now, attempts: 1)
        return await run(hook, on: event, runtime: runtime, strictPermissions: strictPermissions, secrets: secrets, state: MemoryState(), sandbox: nil)
    }

    /// Runs `hook` on `event` (a stored one, for a what-if; a test case's) with `state`; with a
    /// sandbox, its side effects are recorded there (dispatches included) instead of performed.
    package static func run(
        _ hook: Hook, on event: Event, runtime: LuaRuntime, strictPermissions: Bool, secrets: (any SecretReading)?,
        state: any StateAccess, sandbox: HookSandbox?
    ) async -> Outcome {
        let dispatched = Mutex<[NewEvent]>([])
        var request = HookRunRequest(
            hookID: hook.id, hookName: hook.name, source: hook.source, sourceHash: hook.sourceHash,
            chunkName: (hook.filePath as NSString).lastPathComponent, event: .event(HookEventView(event, attempt: max(1, event.attempts))),
            eventStack: event.stack, chainDepth: event.chainDepth, limits: hook.limits,
            dispatcher: { e in
                dispatched.withLock { $0.append(e) }
                sandbox?.record(HookSandbox.Effect(kind: "event.dispatch", target: e.type, detail: e.data))
                return .success("(test run: not stored)")
            })
        request.permissions = PermissionPolicy(declared: hook.permissions, strict: strictPermissions)
        request.state = sandbox.map { RecordingState(inner: state, sandbox: $0) } ?? state
        request.secrets = secrets
        request.sandbox = sandbox
        let result = await runtime.run(request)
        return Outcome(hook: hook, event: event, result: result, dispatched: dispatched.withLock { $0 })
    }
}
