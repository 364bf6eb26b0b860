import Foundation

/// A health check (`check add`): a probe of a service run on an interval by serve's checks
/// source. After `failures` consecutive failed probes it emits `health.check_failed`; the
/// first success after that, `health.recovered`.
package struct HealthCheck: Sendable, Equatable {
    package enum Kind: String, Sendable, CaseIterable {
        /// GET the URL; passes on `expectStatus` (and `expectBody` in the body, if set).
        case http
        /// Connect to host:port.
        case tcp
        /// Run the command (`/bin/sh -c`); passes on exit status 0.
        case exec
    }

    package var name: String
    package var kind: Kind
    /// The URL, `host:port`, or the command.
    package var target: String
    /// The service it checks (the events' `service`); the check's name by default.
    package var service: String
    package var expectStatus: Int
    package var expectBody: String?
    package var intervalMillis: Int64
    package var timeoutMillis: Int64
    package var failures: Int
    /// An answer slower than this emits `network.latency_high` (once per slow spell).
    package var latencyThresholdMillis: Int64?
    /// Whether a passing probe emits `health.check_passed` (off: passing is silence).
    package var emitPassed: Bool
    package var createdAt: Millis
    package var declaredIn: String?

    package init(
        name: String, kind: Kind, target: String, service: String? = nil, expectStatus: Int = 200, expectBody: String? = nil,
        intervalMillis: Int64 = 30_000, timeoutMillis: Int64 = 5_000, failures: Int = 3, latencyThresholdMillis: Int64? = nil,
        emitPassed: Bool = false, createdAt: Millis, declaredIn: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.target = target
        self.service = service ?? name
        self.expectStatus = expectStatus
        self.expectBody = expectBody
        self.intervalMillis = intervalMillis
        self.timeoutMillis = timeoutMillis
        self.failures = failures
        self.latencyThresholdMillis = latencyThresholdMillis
        self.emitPassed = emitPassed
        self.createdAt = createdAt
        self.declaredIn = declaredIn
    }

    /// Checks a declaration (from `check add` or the config file's `checks:`); `field` names a
    /// field as the user wrote it.
    package func validated(field: (String) -> String) throws(SlothError) -> HealthCheck {
        try SourceThingName.validate(name, what: "check")
        switch kind {
        case .http:
            guard let url = URL(string: target), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host?.isEmpty == false else {
                throw .invalidInput("\(field("http")): '\(target)' is not an http:// or https:// URL")
            }
        case .tcp:
            guard let colon = target.lastIndex(of: ":"), colon != target.startIndex, let port = Int(target[target.index(after: colon)...]), (1...65535).contains(port) else {
                throw .invalidInput("\(field("tcp")): '\(target)' must be HOST:PORT, with a port from 1 to 65535")
            }
        case .exec:
            guard !target.trimmingCharacters(in: .whitespaces).isEmpty else { throw .invalidInput("\(field("exec")): the command is empty") }
        }
        guard (100...599).contains(expectStatus) else { throw .invalidInput("\(field("expect_status")) must be an HTTP status (100-599), not \(expectStatus)") }
        if kind != .http, expectBody != nil || expectStatus != 200 { throw .invalidInput("\(field("expect_status")) and \(field("expect_body")) apply to http checks only") }
        guard (1...1000).contains(failures) else { throw .invalidInput("\(field("failures")) must be 1-1000, not \(failures)") }
        guard intervalMillis >= 100 else { throw .invalidInput("\(field("interval")) must be at least 100ms") }
        guard timeoutMillis >= 10, timeoutMillis <= intervalMillis else {
            throw .invalidInput("\(field("timeout")) must be at least 10ms and at most the interval (\(DurationText.format(millis: intervalMillis)))")
        }
        return self
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "name": .string(name), "kind": .string(kind.rawValue), "target": .string(target), "service": .string(service),
            "interval_ms": .int(intervalMillis), "timeout_ms": .int(timeoutMillis), "failures": .int(Int64(failures)),
            "emit_passed": .bool(emitPassed), "created_at": .string(RFC3339.string(millis: createdAt)), "created_at_ms": .int(createdAt),
        ]
        if kind == .http {
            o["expect_status"] = .int(Int64(expectStatus))
            o["expect_body"] = expectBody.map(JSONValue.string) ?? .null
        }
        o["latency_threshold_ms"] = latencyThresholdMillis.map(JSONValue.int) ?? .null
        o["declared_in"] = declaredIn.map(JSONValue.string) ?? .null
        return .object(o)
    }
}
