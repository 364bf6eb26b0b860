import SlothRunner

/// The config file's `checks:` section: `NAME: {http: URL, expect_status: 200, interval: 30s, …}`.
public enum CheckDeclaration {
    static let fields = ["http", "tcp", "exec", "service", "expect_status", "expect_body", "interval", "timeout", "failures", "latency_threshold", "emit_passed"]

    package static func parse(_ section: SourceConfigNode, now: Millis) throws(SlothError) -> [HealthCheck] {
        var out: [HealthCheck] = []
        for (name, node) in try section.entries(what: "check") {
            let m = try node.members(fields, what: "the check's fields (http, tcp or exec, interval, …)")
            let targets = [("http", HealthCheck.Kind.http), ("tcp", .tcp), ("exec", .exec)].filter { m[$0.0] != nil }
            guard targets.count == 1, let (key, kind) = targets.first, let targetNode = m[key] else {
                throw node.error("needs exactly one of http, tcp or exec")
            }
            func field(_ f: String) -> String { "\(section.file):\(m[f]?.line ?? node.line): \(node.field).\(f)" }
            var check = HealthCheck(name: name, kind: kind, target: try targetNode.text(), createdAt: now, declaredIn: section.file)
            if let n = m["service"] { check.service = try n.text() }
            if let n = m["expect_status"] { check.expectStatus = Int(try n.number(in: 100...599)) }
            if let n = m["expect_body"] { check.expectBody = try n.text() }
            if let n = m["interval"] { check.intervalMillis = try n.millis(in: 0.1...86_400) }
            if let n = m["timeout"] { check.timeoutMillis = try n.millis(in: 0.01...86_400) }
            if let n = m["failures"] { check.failures = Int(try n.number(in: 1...1000)) }
            if let n = m["latency_threshold"] { check.latencyThresholdMillis = try n.millis(in: 0.001...86_400) }
            if let n = m["emit_passed"] { check.emitPassed = try n.bool() }
            out.append(try check.validated(field: field))
        }
        return out
    }
}
