import ArgumentParser
import Foundation
import SlothRunner

/// `hook test --cases` and `hook test --history`: a hook's unit tests, and a what-if run over
/// stored events.
extension HookTest {
    func runAuthoringMode() async throws {
        if cases != nil && whatIf { throw SlothError.invalidInput("give --cases or a what-if (--history/--since), not both") }
        if event != nil || data != nil || stack != nil {
            throw SlothError.invalidInput("--event/--data/--stack give one event; --cases files give their own and a what-if reads stored ones")
        }
        if history != nil && (since != nil || until != nil || status != nil || limit != nil || type != nil) {
            throw SlothError.invalidInput("give the selection either as --history '...' or as --since/--type/--status/--until/--limit, not both")
        }
        if cases != nil && allowReads { throw SlothError.invalidInput("--allow-reads is for a what-if run: a test case's reads are its mocks") }
        let runtime = LuaRuntime(threads: 1)
        defer { runtime.shutdown() }
        let hookDef = try await loadHook(runtime: runtime)
        if let cases {
            try await runCases(hookDef, file: cases, runtime: runtime)
        } else {
            try await runWhatIf(hookDef, runtime: runtime)
        }
    }

    func runCases(_ hookDef: Hook, file: String, runtime: LuaRuntime) async throws {
        let text = String(decoding: try readBounded(file, limit: 4 << 20, what: "the cases file"), as: UTF8.self)
        let parsed = try HookCases.parse(text: text, file: file, defaultType: hookDef.eventTypes.first { !$0.contains("*") })
        let results = await HookCases.run(hookDef, cases: parsed, runtime: runtime, strictPermissions: strictPermissions)
        let failed = results.count { !$0.passed }
        if global.json {
            printJSON(.object([
                "hook": .string(hookDef.name), "cases": .array(results.map(\.json)),
                "passed": .int(Int64(results.count - failed)), "failed": .int(Int64(failed)),
            ]))
        } else {
            for r in results {
                print("\(r.passed ? "PASS" : "FAIL")  \(Terminal.line(r.name))")
                for d in r.differences { print("      \(Terminal.line(d))") }
                if !r.passed, !r.outcome.result.output.isEmpty {
                    print("      output:")
                    for line in r.outcome.result.output.split(separator: "\n", omittingEmptySubsequences: false).prefix(20) { print("        \(Terminal.line(String(line)))") }
                }
            }
            print("\(results.count - failed) passed, \(failed) failed (\(hookDef.name), \(file)).")
        }
        if failed > 0 { throw ExitCode(1) }
    }

    func runWhatIf(_ hookDef: Hook, runtime: LuaRuntime) async throws {
        let now = nowMillis()
        let selection: EventSelection
        if let history {
            selection = try EventSelection.parse(history, now: now)
        } else {
            guard since != nil else { throw SlothError.invalidInput("a what-if needs --since (e.g. --since 24h) or --history 'since=24h ...'") }
            selection = try EventSelection.make(type: type, status: status, stack: nil, since: since, until: until, limit: limit, now: now)
        }
        let store = try await global.openStore()
        defer { store.closeNow() }
        let report = try await HookWhatIf.run(
            hookDef, over: selection, store: store, runtime: runtime, allowReads: allowReads, strictPermissions: strictPermissions,
            secrets: SecretVault(driver: store, databasePath: global.databasePath))
        let failing = report.count(.newlyFailing) + report.count(.errors)
        if global.json {
            printJSON(report.json)
        } else {
            if report.rows.isEmpty { print("No stored event matches (\(selection.summary)).") }
            var t = Table(["Event", "Type", "Recorded", "Now", "Change", "Would perform"])
            for r in report.rows {
                let then = r.then.rawValue + (r.thenMessage.map { ": " + HookView.firstLine($0, max: 40) } ?? "")
                let nowText = r.now.rawValue + (r.nowMessage.map { ": " + HookView.firstLine($0, max: 40) } ?? "")
                let effects = r.effects.isEmpty ? "-" : r.effects.map { HookView.firstLine($0.line, max: 60) }.joined(separator: "; ")
                t.add([String(r.event.id.prefix(13)), r.event.type, Terminal.line(then), Terminal.line(nowText), r.change.rawValue.replacingOccurrences(of: "_", with: " "), Terminal.line(effects)])
            }
            if !report.rows.isEmpty { print(t.render(headers: !global.noHeaders)) }
            print("""
                \(report.rows.count) event\(report.rows.count == 1 ? "" : "s") (\(selection.summary)): \(report.count(.unchanged)) unchanged, \
                \(report.count(.newlyFailing)) newly failing, \(report.count(.newlySucceeding)) newly succeeding, \
                \(report.count(.notTaken)) no longer taken, \(report.count(.errors)) errors.
                Nothing was performed: \(report.effects) side effect\(report.effects == 1 ? "" : "s") recorded\(allowReads ? "" : ", \(report.mockedReads) read\(report.mockedReads == 1 ? "" : "s") mocked").
                """)
        }
        if failing > 0 { throw ExitCode(1) }
    }
}
