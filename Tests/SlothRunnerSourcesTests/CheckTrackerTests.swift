import Testing
@testable import SlothRunner
@testable import SlothRunnerSources

@Suite struct CheckTrackerTests {
    let pass = ProbeResult(passed: true, error: nil, latencyMillis: 20)
    let fail = ProbeResult(passed: false, error: "status 503, expected 200", latencyMillis: 5)

    @Test func failedAfterExactlyNThenOneRecoveredWithTheDowntime() {
        var t = CheckTracker(failures: 3, latencyThresholdMillis: nil)
        #expect(t.observe(pass, at: 0, emitPassed: false) == [])
        #expect(t.observe(fail, at: 1000, emitPassed: false) == [])
        #expect(t.observe(fail, at: 2000, emitPassed: false) == [])
        #expect(t.observe(fail, at: 3000, emitPassed: false) == [.failed(consecutive: 3, error: "status 503, expected 200")])
        #expect(t.observe(fail, at: 4000, emitPassed: false) == [])
        #expect(t.observe(fail, at: 5000, emitPassed: false) == [])
        // Down since the first failure of the run (1 s) until the pass at 6 s.
        #expect(t.observe(pass, at: 6000, emitPassed: false) == [.recovered(downtimeMillis: 5000)])
        #expect(t.observe(pass, at: 7000, emitPassed: false) == [])
        // Failures short of the count, then a pass: nothing at all.
        #expect(t.observe(fail, at: 8000, emitPassed: false) == [])
        #expect(t.observe(fail, at: 9000, emitPassed: false) == [])
        #expect(t.observe(pass, at: 10000, emitPassed: false) == [])
    }

    @Test func latencyHighOncePerSlowSpellAndPassedOnlyWhenAsked() {
        var t = CheckTracker(failures: 1, latencyThresholdMillis: 100)
        let slow = ProbeResult(passed: true, error: nil, latencyMillis: 250)
        #expect(t.observe(slow, at: 0, emitPassed: false) == [.latencyHigh(latencyMillis: 250)])
        #expect(t.observe(slow, at: 1000, emitPassed: false) == [])
        #expect(t.observe(pass, at: 2000, emitPassed: false) == [])
        #expect(t.observe(slow, at: 3000, emitPassed: true) == [.latencyHigh(latencyMillis: 250), .passed(latencyMillis: 250)])
        #expect(t.observe(pass, at: 4000, emitPassed: true) == [.passed(latencyMillis: 20)])
    }
}
