import ArgumentParser
import Foundation
import SlothRunner
import SlothRunnerSources

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Manage health checks: probes serve runs on an interval, emitting health events.",
        discussion: """
            After --failures consecutive failed probes: health.check_failed {service, check_name,
            error, consecutive_failures}; on the first success after that: health.recovered
            {service, downtime_duration}. An answer slower than --latency-threshold emits
            network.latency_high (once per slow spell). Passing emits nothing unless
            --emit-passed (health.check_passed). Checks can also be declared in the config file's
            `checks:` section; serve makes the store match it at start.

            Examples:
              sloth-runner check add web --http https://example.com/health --expect-status 200 --interval 30s
              sloth-runner check add api --http http://127.0.0.1:8080/ready --expect-body ok --latency-threshold 500ms
              sloth-runner check add db --tcp 127.0.0.1:5432 --interval 10s --failures 2
              sloth-runner check add disk --exec 'test $(df --output=pcent / | tail -1 | tr -dc 0-9) -lt 90'
              sloth-runner check run web
              sloth-runner check list -o json
            """,
        subcommands: [CheckAdd.self, CheckList.self, CheckRemove.self, CheckRun.self]
    )

    static func find(_ store: any HealthCheckStore, _ name: String) async throws -> HealthCheck {
        guard let c = try await store.check(named: name) else { throw SlothError.notFound("no check named '\(name)' (see `sloth-runner check list`)") }
        return c
    }
}

struct CheckAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a health check (serve starts it within a second).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name (lowercase letters, digits, '.', '_', '-').") var name: String
    @Option(help: "GET this URL (http:// or https://).") var http: String?
    @Option(help: "Connect to HOST:PORT.") var tcp: String?
    @Option(help: "Run this command with /bin/sh -c; exit 0 passes.") var exec: String?
    @Option(help: "For --http: the status that passes.") var expectStatus: Int = 200
    @Option(help: "For --http: text the body must contain.") var expectBody: String?
    @Option(help: "How often to probe.") var interval: String = "30s"
    @Option(help: "How long a probe may take.") var timeout: String = "5s"
    @Option(help: "Consecutive failures before health.check_failed.") var failures: Int = 3
    @Option(help: "An answer slower than this emits network.latency_high.") var latencyThreshold: String?
    @Option(help: "The service checked (the events' `service`; default: the check's name).") var service: String?
    @Flag(help: "Emit health.check_passed on every passing probe.") var emitPassed = false

    func run() async throws {
        try await global.withStore { store in
            let targets = [(http, HealthCheck.Kind.http), (tcp, .tcp), (exec, .exec)].compactMap { t, k in t.map { ($0, k) } }
            guard targets.count == 1, let (target, kind) = targets.first else {
                throw SlothError.invalidInput("give exactly one of --http URL, --tcp HOST:PORT or --exec CMD")
            }
            if kind != .http, expectBody != nil || expectStatus != 200 { throw SlothError.invalidInput("--expect-status and --expect-body apply to --http checks only") }
            let check = try HealthCheck(
                name: name, kind: kind, target: target, service: service, expectStatus: expectStatus, expectBody: expectBody,
                intervalMillis: DurationText.millis(interval, for: "--interval"), timeoutMillis: DurationText.millis(timeout, for: "--timeout"),
                failures: failures, latencyThresholdMillis: latencyThreshold.map { try DurationText.millis($0, for: "--latency-threshold", in: 0.001...86_400) },
                emitPassed: emitPassed, createdAt: nowMillis()
            ).validated { "--" + $0.replacingOccurrences(of: "_", with: "-") }
            try await store.checkAdd(check)
            if global.json { printJSON(check.json) } else {
                print("Check '\(name)' added (\(kind.rawValue) \(target), every \(DurationText.format(millis: check.intervalMillis))); serve runs it.")
            }
        }
    }
}

struct CheckList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List health checks.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.withStore { store in
            let all = try await store.checkList()
            if global.json { printJSON(.array(all.map(\.json))); return }
            if all.isEmpty { print("No checks. Add one with `sloth-runner check add NAME --http URL`."); return }
            var t = Table(["Name", "Kind", "Target", "Service", "Interval", "Timeout", "Failures", "Declared in"])
            for c in all {
                t.add([c.name, c.kind.rawValue, c.target, c.service, DurationText.format(millis: c.intervalMillis), DurationText.format(millis: c.timeoutMillis),
                       "\(c.failures)", c.declaredIn ?? "check add"])
            }
            print(t.render(headers: !global.noHeaders))
        }
    }
}

struct CheckRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a health check; serve stops it within a second.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name.") var name: String

    func run() async throws {
        try await global.withStore { store in
            let declaredIn = try await CheckCommand.find(store, name).declaredIn
            _ = try await store.checkRemove(name: name)
            if let declaredIn { warn("'\(name)' is declared in \(declaredIn); serve declares it again at its next start unless it is removed there") }
            if global.json { printJSON(.object(["name": .string(name), "removed": .bool(true)])) } else { print("Check '\(name)' removed.") }
        }
    }
}

struct CheckRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Probe a check once, now, and print the result (exit 0 when it passes, 1 when not); emits nothing.",
        discussion: "Example: sloth-runner check run web -o json")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name.") var name: String

    func run() async throws {
        try await global.withStore { store in
            let check = try await CheckCommand.find(store, name)
            let result = await HealthCheckProbe.once(check)
            if global.json {
                printJSON(.object([
                    "name": .string(name), "passed": .bool(result.passed), "error": result.error.map(JSONValue.string) ?? .null,
                    "latency_ms": .int(result.latencyMillis),
                ]))
            } else {
                print(result.passed ? "passed in \(result.latencyMillis) ms" : "failed after \(result.latencyMillis) ms: \(result.error ?? "?")")
            }
            if !result.passed { throw ExitCode(1) }
        }
    }
}
