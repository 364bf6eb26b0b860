import Hummingbird
import NIOCore
import SlothRunner

/// `/healthz`: the process answers. `/readyz`: it can do its job — the engine runs (not
/// draining) and the store takes a write within a second; `503` with the reasons otherwise, so
/// a load balancer stops sending events to a node that would refuse or stall them.
struct HealthRoutes {
    let engine: Engine
    let started: Millis
    let version: String
    static let storeProbeSeconds = 1.0
    static let endpoints: [(HTTPRequest.Method, String)] = [(.get, "healthz"), (.get, "readyz"), (.get, "api/v1/status"), (.get, "api/v1/openapi.yaml")]

    func register(on router: Router<APIRequestContext>) {
        router.get("healthz") { _, _ in
            JSONResponse.make(status: .ok, .object(["status": .string("ok"), "uptime_ms": .int(nowMillis() - started)]))
        }
        // The contract: the repository's openapi.yaml, embedded at build time.
        router.get("api/v1/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
        }
        // What `sloth-runner status` prints.
        router.get("api/v1/status") { _, _ in
            let s = engine.status
            let pending = try await engine.store.countEvents(status: .pending)
            let dead = try await engine.deadLetterCount()
            var o: [String: JSONValue] = [
                "version": .string(version), "node": .string(engine.configuration.nodeID), "owner": .string(s.owner),
                "phase": .string(s.phase), "uptime_ms": .int(nowMillis() - started), "workers": .int(Int64(s.workers)),
                "queued": .int(Int64(s.queued)), "in_flight": .int(Int64(s.inFlight)),
                "events_per_second_last_minute": .double((s.finishedPerSecond * 100).rounded() / 100),
                "pending_in_store": .int(Int64(pending)), "dead_letters": .int(Int64(dead)),
            ]
            JSONValue.stamp(&o, "started_at", s.startedAt > 0 ? s.startedAt : nil)
            return JSONResponse.make(status: .ok, .object(o))
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
