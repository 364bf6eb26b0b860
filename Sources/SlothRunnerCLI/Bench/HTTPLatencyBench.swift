import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SlothRunner

/// Latency at a fixed offered load (`bench --http-url URL --rate R`): R requests per second on
/// keep-alive connections, sent on schedule whatever the answers do (open loop), each timed
/// from when it was *due* — a request that waited for a free connection counts its wait, so a
/// stall is not hidden (the coordinated omission a closed-loop tool like wrk has). Everything
/// runs on one event-loop thread. Figures, not a test.
enum HTTPLatencyBench {
    struct Report {
        var sent = 0
        var answered = 0
        var failed = 0
        var statuses: [UInt: Int] = [:]
        var latencies: [UInt64] = []
        var seconds = 0.0
    }

    static func run(url: String, rate: Double, seconds: Double, connections: Int, body: String, json: Bool) async throws {
        guard let parsed = URLComponents(string: url), parsed.scheme == "http", let host = parsed.host, let port = parsed.port else {
            throw SlothError.invalidInput("--http-url must be http://HOST:PORT/PATH (a running serve), not '\(url)'")
        }
        guard rate > 0, rate <= 100_000 else { throw SlothError.invalidInput("--rate must be from 1 to 100000 requests/s") }
        guard (1...1024).contains(connections) else { throw SlothError.invalidInput("--connections must be from 1 to 1024") }
        let path = parsed.percentEncodedPath.isEmpty ? "/" : parsed.percentEncodedPath
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let report: Report
        do {
            report = try await loop.flatSubmit {
                Driver(loop: loop, host: host, port: port, path: path, body: body, rate: rate, seconds: seconds).run(connections: connections)
            }.get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
        print(render(report, rate: rate, connections: connections, url: url, json: json))
    }

    static func render(_ r: Report, rate: Double, connections: Int, url: String, json: Bool) -> String {
        let sorted = r.latencies.sorted()
        func p(_ q: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return Double(sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)]) / 1e6
        }
        let achieved = Double(r.answered) / r.seconds
        if json {
            return JSONValue.object([
                "url": .string(url), "offered_per_second": .double(rate), "achieved_per_second": .double(achieved),
                "connections": .int(Int64(connections)), "sent": .int(Int64(r.sent)), "answered": .int(Int64(r.answered)),
                "failed": .int(Int64(r.failed)),
                "statuses": .object(Dictionary(uniqueKeysWithValues: r.statuses.map { (String($0.key), JSONValue.int(Int64($0.value))) })),
                "latency_ms": .object(["p50": .double(p(0.5)), "p90": .double(p(0.9)), "p99": .double(p(0.99)), "p999": .double(p(0.999)), "max": .double(p(1))]),
            ]).serialized(pretty: true)
        }
        let statuses = r.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        return """
            offered               \(Int(rate)) requests/s on \(connections) keep-alive connection(s), \(String(format: "%.1f", r.seconds)) s, to \(url)
            achieved              \(String(format: "%.0f", achieved)) answers/s (\(r.answered) of \(r.sent) sent; \(r.failed) failed; statuses \(statuses))
            latency from due time p50 \(String(format: "%.3f", p(0.5))) ms, p90 \(String(format: "%.3f", p(0.9))) ms, p99 \(String(format: "%.3f", p(0.99))) ms, p99.9 \(String(format: "%.3f", p(0.999))) ms, max \(String(format: "%.3f", p(1))) ms
            """
    }

    /// Lives on its event loop: the schedule, the idle connections, the requests waiting for one.
    final class Driver {
        let loop: any EventLoop
        let host: String
        let port: Int
        let path: String
        let body: String
        let interval: Double
        let seconds: Double
        var report = Report()
        var idle: [Connection] = []
        var waiting: [UInt64] = []  // due times of requests no connection was free for
        var start: UInt64 = 0
        var finished: EventLoopPromise<Report>

        init(loop: any EventLoop, host: String, port: Int, path: String, body: String, rate: Double, seconds: Double) {
            self.loop = loop
            self.host = host
            self.port = port
            self.path = path
            self.body = body
            self.interval = 1e9 / rate
            self.seconds = seconds
            self.finished = loop.makePromise()
        }

        func run(connections: Int) -> EventLoopFuture<Report> {
            let connecting = (0..<connections).map { _ in
                ClientBootstrap(group: loop).channelOption(.socketOption(.tcp_nodelay), value: 1).connect(host: host, port: port)
            }
            EventLoopFuture.whenAllSucceed(connecting, on: loop).assumeIsolated().whenComplete { result in
                switch result {
                case .failure(let error):
                    self.finished.fail(SlothError.invalidInput("cannot connect to \(self.host):\(self.port): \(error)"))
                case .success(let channels):
                    do {
                        for channel in channels {
                            let connection = Connection(channel: channel, driver: self)
                            try channel.pipeline.syncOperations.addHTTPClientHandlers()
                            try channel.pipeline.syncOperations.addHandler(connection)
                            self.idle.append(connection)
                        }
                    } catch {
                        self.finished.fail(error)
                        return
                    }
                    self.start = monotonicNanos()
                    self.tick()
                }
            }
            return finished.futureResult
        }

        /// Sends every request due by now, then sleeps until the next is due.
        func tick() {
            let now = monotonicNanos()
            let elapsed = Double(now - start)
            if elapsed >= seconds * 1e9 {
                // Stop sending; answers still on their way are counted when they come.
                drainThenFinish()
                return
            }
            let due = Int(elapsed / interval) + 1
            while report.sent < due {
                let dueAt = start + UInt64(Double(report.sent) * interval)
                report.sent += 1
                if let connection = idle.popLast() { connection.send(dueAt: dueAt) } else { waiting.append(dueAt) }
            }
            let next = start + UInt64(Double(report.sent) * interval)
            let wait = next > now ? Int64(next - now) : 0
            loop.assumeIsolated().scheduleTask(in: .nanoseconds(wait)) { self.tick() }
        }

        func answered(_ connection: Connection, status: UInt, dueAt: UInt64) {
            report.answered += 1
            report.statuses[status, default: 0] += 1
            report.latencies.append(monotonicNanos() - dueAt)
            release(connection)
        }

        func failed(_ connection: Connection) {
            report.failed += 1
        }

        private func release(_ connection: Connection) {
            if !waiting.isEmpty { connection.send(dueAt: waiting.removeFirst()) } else { idle.append(connection) }
            if draining, report.answered + report.failed >= report.sent { complete() }
        }

        var draining = false
        private func drainThenFinish() {
            draining = true
            if report.answered + report.failed >= report.sent { complete() }
            // Answers that never come (a stuck server) end the run after 10 s more.
            loop.assumeIsolated().scheduleTask(in: .seconds(10)) { self.complete() }
        }

        private var completed = false
        private func complete() {
            guard !completed else { return }
            completed = true
            report.seconds = Double(monotonicNanos() - start) / 1e9
            for c in idle { c.channel.close(promise: nil) }
            finished.succeed(report)
        }
    }

    /// One keep-alive connection: one request at a time.
    final class Connection: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart
        let channel: any Channel
        let driver: Driver  // the bench is short; closing the channels ends the cycle
        var dueAt: UInt64 = 0
        var status: UInt = 0

        init(channel: any Channel, driver: Driver) {
            self.channel = channel
            self.driver = driver
        }

        func send(dueAt: UInt64) {
            self.dueAt = dueAt
            var head = HTTPRequestHead(version: .http1_1, method: driver.body.isEmpty ? .GET : .POST, uri: driver.path)
            head.headers.add(name: "Host", value: "\(driver.host):\(driver.port)")
            if !driver.body.isEmpty {
                head.headers.add(name: "Content-Type", value: "application/json")
                head.headers.add(name: "Content-Length", value: String(driver.body.utf8.count))
            }
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if !driver.body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: driver.body))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = head.status.code
            case .body: break
            case .end: driver.answered(self, status: status, dueAt: dueAt)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            driver.failed(self)
            context.close(promise: nil)
        }
    }
}
