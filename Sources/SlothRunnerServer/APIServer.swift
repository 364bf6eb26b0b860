import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif
import SlothRunner

/// Where and how the daemon's HTTP API listens (`serve --http`, the `http:` section of the config).
public struct APIServerSettings: Sendable {
    /// The address to bind; port 0 picks a free one (the log says which).
    public var host: String
    public var port: Int
    /// Largest request body accepted (`413` beyond it).
    public var maxBodyBytes: Int
    /// How long a keep-alive connection may sit idle, or a client take to send its request,
    /// before it is closed: a slow or stuck client cannot hold a connection forever.
    public var idleTimeoutSeconds: Double
    /// How long a client may take from the first byte of a request to the end of its headers
    /// (a slowloris dribbling headers is cut off here, long before the idle timeout).
    public var headerTimeoutSeconds: Double = 10

    /// Open connections at most: beyond it the server stops accepting until one closes (the
    /// rest wait in the kernel's backlog), so a flood of clients cannot exhaust descriptors.
    public var maxConnections: Int = 10_000
    /// Serve over TLS with this configuration (`--tls-cert`, `--tls-key`); nil: plain HTTP.
    public var tls: TLSConfiguration?
    /// Requests per client at most (`--http-rate-limit`; nil: no limit): `429` beyond it.
    public var rateLimit: RequestRate?
    /// What `/api/v1/status` reports as the version.
    public var version: String = "unknown"
    /// A quiet event stream sends a heartbeat comment this often (proxies close silent
    /// connections; the client learns it is still connected).
    public var streamHeartbeatSeconds: Double = 15
    /// How often open streams look for new entries in the change journal.
    public var streamTickMillis: Int64 = 100

    public init(host: String = "127.0.0.1", port: Int = 7077, maxBodyBytes: Int = 1 << 20, idleTimeoutSeconds: Double = 60) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }

    /// Whether the address only takes connections from this machine.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// The daemon's HTTP API on Hummingbird 2, as a `Service` for `serve`'s `ServiceGroup`: listed
/// after the engine, it is shut down before it — it stops accepting connections, finishes the
/// requests in flight, and only then does the engine drain.
public enum APIServer {
    /// The application; `onListening` is told the address actually bound (port 0 resolved).
    /// `metrics`: the registry `/metrics` shows (the one swift-metrics was bootstrapped onto);
    /// nil: no `/metrics`.
    public static func make(
        engine: Engine, settings: APIServerSettings, logger: Logger, metrics: PrometheusCollectorRegistry? = nil,
        onListening: @escaping @Sendable (String, Int) -> Void
    ) throws -> some Service {
        let router = Router(context: APIRequestContext.self)
        let table = RouteTable(
            HealthRoutes.endpoints + WebhookRoutes.endpoints + WebUIRoutes.endpoints + (metrics == nil ? [] : MetricsRoutes.endpoints)
                + (EventRoutes.endpoints + HookRoutes.endpoints + StoreRoutes.endpoints + StreamRoutes.endpoints).map { ($0.0, "api/v1/" + $0.1) })
        // Outermost: every answer, errors included, carries the security headers.
        router.add(middleware: SecurityHeadersMiddleware())
        // Then metrics, so they count the status the client gets (errors included, as JSON).
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: JSONErrorMiddleware(logger: logger, routes: table))
        let tokens = TokenBook(driver: engine.driver)
        router.add(middleware: SameOriginMiddleware())
        let limiter = settings.rateLimit.map { RateLimiter(rate: $0) }
        let sessions = WebSessions()
        router.add(middleware: TokenAuthMiddleware(tokens: tokens, limiter: limiter, sessions: sessions, loopback: settings.isLoopback))
        if let limiter { router.add(middleware: RateLimitMiddleware(limiter: limiter)) }
        let started = nowMillis()
        HealthRoutes(engine: engine, started: started, version: settings.version).register(on: router)
        let webhookActivity = WebhookActivity()
        WebUIRoutes(engine: engine, tokens: tokens, sessions: sessions, webhookActivity: webhookActivity, loopback: settings.isLoopback,
                    secure: settings.tls != nil, version: settings.version, started: started).register(on: router)
        let webhooks = WebhookBook(driver: engine.driver, vault: engine.configuration.secrets)
        WebhookRoutes(engine: engine, book: webhooks, activity: webhookActivity, maxBodyBytes: settings.maxBodyBytes, loopback: settings.isLoopback).register(on: router)
        let api = router.group("api/v1")
        EventRoutes(engine: engine, maxBodyBytes: settings.maxBodyBytes).register(on: api)
        HookRoutes(engine: engine, maxBodyBytes: settings.maxBodyBytes).register(on: api)
        StoreRoutes(engine: engine, maxBodyBytes: settings.maxBodyBytes).register(on: api)
        let feed = ChangeFeed(driver: engine.driver, tickMillis: settings.streamTickMillis)
        if let metrics { MetricsRoutes(engine: engine, registry: metrics, feed: feed).register(on: router) }
        StreamRoutes(engine: engine, feed: feed, heartbeatMillis: Int64(settings.streamHeartbeatSeconds * 1000)).register(on: api)
        let idle = TimeAmount.nanoseconds(Int64(settings.idleTimeoutSeconds * 1e9))
        let headTimeout = TimeAmount.nanoseconds(Int64(settings.headerTimeoutSeconds * 1e9))
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [RequestHeadTimeout(timeout: headTimeout, logger: logger)], idleTimeout: idle)
        let application = Application(
            router: router,
            server: try settings.tls.map { try .tls(.http1(configuration: http1), tlsConfiguration: $0) } ?? .http1(configuration: http1),
            configuration: .init(
                address: .hostname(settings.host, port: settings.port), serverName: "sloth-runner",
                availableConnectionsDelegate: MaximumAvailableConnections(settings.maxConnections)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                onListening(settings.host, port)
            },
            logger: logger)
        return ListeningService(application: application, feed: feed, tokens: tokens, webhooks: webhooks,
                                storeMayHaveChanged: { engine.storeRecentlyWritten }, address: settings.host.contains(":") ? "[\(settings.host)]:\(settings.port)" : "\(settings.host):\(settings.port)")
    }
}

/// The application, with the one failure an operator meets at start said plainly: the address
/// cannot be bound (taken by another process, or a privileged port).
struct ListeningService<App: ApplicationProtocol>: Service {
    let application: App
    /// Closed on graceful shutdown: open event streams end their responses, so the server's
    /// wait for requests in flight ends too.
    let feed: ChangeFeed
    /// Both reloaded beside the server for as long as it runs.
    let tokens: TokenBook
    let webhooks: WebhookBook
    /// Whether the store may have changed lately (the engine watches its files).
    let storeMayHaveChanged: @Sendable () -> Bool
    let address: String

    func run() async throws {
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [tokens, storeMayHaveChanged] in await tokens.refreshUntilCancelled(storeMayHaveChanged: storeMayHaveChanged) }
                group.addTask { [webhooks, storeMayHaveChanged] in await webhooks.refreshUntilCancelled(storeMayHaveChanged: storeMayHaveChanged) }
                defer { group.cancelAll() }
                try await withGracefulShutdownHandler {
                    try await application.run()
                } onGracefulShutdown: { [feed] in
                    feed.close()
                }
            }
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw SlothError.conflict("cannot listen on \(address): the address is in use (another sloth-runner serve?); pick another with --http HOST:PORT, or --http off")
        } catch let error as IOError where error.errnoCode == EACCES {
            throw SlothError.invalidInput("cannot listen on \(address): permission denied (ports below 1024 need privileges); pick another with --http HOST:PORT")
        } catch let error as IOError where error.errnoCode == EADDRNOTAVAIL {
            throw SlothError.invalidInput("cannot listen on \(address): no such address on this machine; use 127.0.0.1 or ::1")
        }
    }
}
