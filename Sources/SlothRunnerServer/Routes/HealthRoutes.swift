import Hummingbird
import SlothRunner

/// `/healthz`: the process answers. `/readyz`: it can do its job — the engine runs (not
/// draining) and the store takes a write within a second; `503` with the reasons otherwise, so
/// a load balancer stops sending events to a node that would refuse or stall them.
struct HealthRoutes {
    let engine: Engine
    let started: Millis
    static let storeProbeSeconds = 1.0
    static let endpoints: [(HTTPRequest.Method, String)] = [(.get, "healthz"), (.get, "readyz")]

    func register(on router: Router<BasicRequestContext>) {
        router.get("healthz") { _, _ in
            JSONResponse.make(status: .ok, .object(["status": .string("ok"), "uptime_ms": .int(nowMillis() - started)]))
        }
        router.get("readyz") { _, _ in
            var problems: [JSONValue] = []
            if !engine.isRunning { problems.append(.string("the engine is not running (starting, or draining for shutdown)")) }
            if let store = await engine.probeStore(within: Self.storeProbeSeconds) { problems.append(.string(store)) }
            let ready = problems.isEmpty
            return JSONResponse.make(
                status: ready ? .ok : .serviceUnavailable,
                .object(["status": .string(ready ? "ready" : "not_ready"), "problems": .array(problems)]))
        }
    }
}
