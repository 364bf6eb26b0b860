import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import SlothRunner

/// One probe of a check: passed or not (and why), and how long the answer took. Probes are
/// asynchronous on shared event loops (AsyncHTTPClient's and NIO's) or a process's exit: a
/// hundred checks cost no thread each.
struct ProbeResult: Sendable, Equatable {
    var passed: Bool
    var error: String?
    var latencyMillis: Int64
}

enum CheckProbe {
    static func run(_ check: HealthCheck) async -> ProbeResult {
        let start = ContinuousClock.now
        func elapsed() -> Int64 {
            let d = ContinuousClock.now - start
            return d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        }
        do {
            switch check.kind {
            case .http: try await http(check)
            case .tcp: try await tcp(check)
            case .exec: try await exec(check)
            }
            return ProbeResult(passed: true, error: nil, latencyMillis: elapsed())
        } catch let failure as ProbeFailure {
            return ProbeResult(passed: false, error: failure.message, latencyMillis: elapsed())
        } catch {
            return ProbeResult(passed: false, error: "\(error)", latencyMillis: elapsed())
        }
    }

    struct ProbeFailure: Error { let message: String }

    static func http(_ check: HealthCheck) async throws {
        var request = HTTPClientRequest(url: check.target)
        request.method = .GET
        request.headers.add(name: "User-Agent", value: "sloth-runner-check")
        let response: HTTPClientResponse
        do { response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(check.timeoutMillis)) } catch {
            throw ProbeFailure(message: describe(error, timeoutMillis: check.timeoutMillis))
        }
        // Bodies are read up to 1 MiB: enough for any health page, bounded for a broken one.
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: 1 << 20) } catch {
            throw ProbeFailure(message: "the body could not be read: \(describe(error, timeoutMillis: check.timeoutMillis))")
        }
        guard Int(response.status.code) == check.expectStatus else {
            throw ProbeFailure(message: "status \(response.status.code), expected \(check.expectStatus)")
        }
        if let expected = check.expectBody, !String(buffer: body).contains(expected) {
            throw ProbeFailure(message: "the body does not contain '\(expected)'")
        }
    }

    static func tcp(_ check: HealthCheck) async throws {
        let colon = check.target.lastIndex(of: ":")!
        var host = String(check.target[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = Int(check.target[check.target.index(after: colon)...])!
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(check.timeoutMillis))
                .connect(host: host, port: port).get()
        } catch {
            throw ProbeFailure(message: "cannot connect to \(check.target): \(describe(error, timeoutMillis: check.timeoutMillis))")
        }
        try? await channel.close()
    }

    static func exec(_ check: HealthCheck) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", check.target]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        let status: Int32 = try await withCheckedThrowingContinuation { cont in
            process.terminationHandler = { p in cont.resume(returning: p.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                cont.resume(throwing: ProbeFailure(message: "cannot run /bin/sh: \(error)"))
                return
            }
            // Past the timeout the command is killed; its exit then ends the wait.
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(check.timeoutMillis))) {
                if process.isRunning { kill(pid, SIGKILL) }
            }
        }
        let stderr = String(decoding: errors.fileHandleForReading.availableData.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if process.terminationReason == .uncaughtSignal {
            throw ProbeFailure(message: status == SIGKILL ? "timed out after \(DurationText.format(millis: check.timeoutMillis))" : "killed by signal \(status)")
        }
        guard status == 0 else { throw ProbeFailure(message: "exit status \(status)" + (stderr.isEmpty ? "" : ": \(stderr)")) }
    }

    static func describe(_ error: any Error, timeoutMillis: Int64) -> String {
        if let e = error as? HTTPClientError {
            if e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout { return "timed out after \(DurationText.format(millis: timeoutMillis))" }
            return "\(e)"
        }
        if error is ChannelError, "\(error)".contains("connectTimeout") { return "timed out after \(DurationText.format(millis: timeoutMillis))" }
        if let io = error as? IOError { return io.description }
        return "\(error)"
    }
}

/// Where a check stands, probe by probe: what to emit. Passing is silence unless asked;
/// `failures` consecutive failures emit `check_failed` once; the first pass after that,
/// `recovered` with the downtime; a slow answer emits `latency_high` once per slow spell.
struct CheckTracker: Sendable, Equatable {
    let failuresToAlert: Int
    let latencyThresholdMillis: Int64?
    private(set) var consecutiveFailures = 0
    private(set) var downSince: Millis?
    private(set) var firstFailureAt: Millis?
    private(set) var slow = false

    enum Emit: Equatable {
        case failed(consecutive: Int, error: String)
        case recovered(downtimeMillis: Int64)
        case passed(latencyMillis: Int64)
        case latencyHigh(latencyMillis: Int64)
    }

    init(failures: Int, latencyThresholdMillis: Int64?) {
        failuresToAlert = failures
        self.latencyThresholdMillis = latencyThresholdMillis
    }

    mutating func observe(_ result: ProbeResult, at now: Millis, emitPassed: Bool) -> [Emit] {
        var out: [Emit] = []
        if result.passed {
            if let since = downSince { out.append(.recovered(downtimeMillis: now - since)) }
            consecutiveFailures = 0
            downSince = nil
            firstFailureAt = nil
            if let limit = latencyThresholdMillis {
                if result.latencyMillis > limit {
                    if !slow { out.append(.latencyHigh(latencyMillis: result.latencyMillis)) }
                    slow = true
                } else {
                    slow = false
                }
            }
            if emitPassed { out.append(.passed(latencyMillis: result.latencyMillis)) }
        } else {
            consecutiveFailures += 1
            if firstFailureAt == nil { firstFailureAt = now }
            if consecutiveFailures == failuresToAlert {
                downSince = firstFailureAt
                out.append(.failed(consecutive: consecutiveFailures, error: result.error ?? "failed"))
            }
        }
        return out
    }
}

/// One probe from outside the source (`sloth-runner check run`).
package enum HealthCheckProbe {
    package static func once(_ check: HealthCheck) async -> (passed: Bool, error: String?, latencyMillis: Int64) {
        let r = await CheckProbe.run(check)
        return (r.passed, r.error, r.latencyMillis)
    }
}
