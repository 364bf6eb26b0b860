import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import SlothRunner

/// `sloth-runner status`: asks the running daemon, over its HTTP API, what it is doing.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Ask the running `serve` what it is doing: version, uptime, queue, in flight, rate, dead letters.",
        discussion: """
            The daemon is reached at its HTTP API: --server URL, else the http.address setting
            (--config, SLOTH_RUNNER_HTTP; default 127.0.0.1:7077). Exit 3 when nothing answers.

            Examples:
              sloth-runner status
              sloth-runner status --server http://127.0.0.1:8080 -o json
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "The daemon's URL (default: from the http.address setting).") var server: String?

    func run() async throws {
        try await runReporting {
            let base = try baseURL()
            var request = HTTPClientRequest(url: base + "/api/v1/status")
            request.headers.add(name: "Accept", value: "application/json")
            let body: ByteBuffer
            let code: UInt
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                code = response.status.code
                body = try await response.body.collect(upTo: 1 << 20)
            } catch {
                throw SlothError.notFound("no sloth-runner serve answers at \(base) (\(error)); start one with `sloth-runner serve`, or pass --server URL")
            }
            guard code == 200, case .object(let s)? = try? JSONValue.parse(bytes: Array(buffer: body)) else {
                throw SlothError.runtime("\(base) answered \(code): \(String(buffer: body))")
            }
            if global.json { printJSON(.object(s)); return }
            func text(_ k: String) -> String {
                switch s[k] {
                case .string(let v)?: return v
                case .int(let v)?: return String(v)
                case .double(let v)?: return String(format: "%.2f", v)
                default: return "-"
                }
            }
            let uptime = DurationText.format(millis: s["uptime_ms"].flatMap { if case .int(let v) = $0 { return v } else { return nil } } ?? 0)
            print("Daemon:       \(base) — sloth-runner \(text("version"))")
            print("Node:         \(text("node")) (lease owner \(text("owner")))")
            print("State:        \(text("phase")), up \(uptime)")
            print("Workers:      \(text("in_flight")) in flight of \(text("workers")); \(text("queued")) queued in memory")
            print("Store:        \(text("pending_in_store")) pending, \(text("dead_letters")) dead letter(s)")
            print("Finished:     \(text("events_per_second_last_minute")) events/s over the last minute")
        }
    }

    private func baseURL() throws(SlothError) -> String {
        if let server { return server.hasSuffix("/") ? String(server.dropLast()) : server }
        let settings = try global.settings()
        guard case .success(let address?) = ListenAddress.parse(settings.text("http.address") ?? "127.0.0.1:7077") else {
            throw .invalidInput("the HTTP API is off (\(settings.origin("http.address"))): pass --server URL")
        }
        guard address.port != 0 else {
            throw .invalidInput("\(settings.origin("http.address")) picks a free port at start; pass --server URL (serve logs it)")
        }
        let host = address.host == "0.0.0.0" ? "127.0.0.1" : address.host
        return "http://" + ListenAddress(host: host, port: address.port).description
    }
}
