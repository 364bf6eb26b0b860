import Hummingbird
import Metrics
import NIOCore
import Prometheus
import SlothRunner

/// `/metrics` in the Prometheus text format: what the engine counts (swift-metrics, bootstrapped
/// by `serve` onto this registry), HTTP requests by route and status (Hummingbird's metrics
/// middleware), and gauges read at each scrape: the run queue, hooks in flight, events pending
/// in the store, dead letters, the store's size on disk, open event streams. Open on loopback; elsewhere it needs a token (any role).
struct MetricsRoutes {
    let engine: Engine
    let registry: PrometheusCollectorRegistry

    private let queued = Gauge(label: "sloth_run_queue_depth")
    private let inFlight = Gauge(label: "sloth_events_in_flight")
    private let workers = Gauge(label: "sloth_workers")
    private let pending = Gauge(label: "sloth_events_pending_in_store")
    private let deadLetters = Gauge(label: "sloth_dead_letters")
    private let rate = Gauge(label: "sloth_events_finished_per_second_last_minute")
    private let storeBytes = Gauge(label: "sloth_store_size_bytes")
    private let streams = Gauge(label: "sloth_http_open_streams")
    let feed: ChangeFeed

    static let endpoints: [(HTTPRequest.Method, String)] = [(.get, "metrics")]

    init(engine: Engine, registry: PrometheusCollectorRegistry, feed: ChangeFeed) {
        self.engine = engine
        self.registry = registry
        self.feed = feed
    }

    func register(on router: Router<APIRequestContext>) {
        router.get("metrics") { _, _ in
            let status = engine.status
            queued.record(status.queued)
            inFlight.record(status.inFlight)
            workers.record(status.workers)
            rate.record(status.finishedPerSecond)
            pending.record(try await engine.store.countEvents(status: .pending))
            deadLetters.record(try await engine.deadLetterCount())
            storeBytes.record(try await engine.driver.storageBytes())
            streams.record(feed.openStreams)
            let bytes = registry.emitToBuffer()
            var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: buffer))
        }
    }
}
