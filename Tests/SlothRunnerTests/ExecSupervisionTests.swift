import Foundation
import Testing
@testable import SlothRunner

/// The two ways a command's supervisor starts — the `sloth-exec-supervisor` program through
/// posix_spawn (the default) and a fork of the engine (when the program is not installed) —
/// behave the same.
@Suite struct ExecSupervisionTests {
    static let helper = ExecSupervision.locateHelper()

    @Test func theSupervisorProgramIsFoundNextToTheRunningBinary() throws {
        let helper = try #require(Self.helper, "swift build puts sloth-exec-supervisor beside the test bundle")
        #expect(helper.hasSuffix("/" + ExecSupervision.helperName))
        #expect(ExecSupervision.locateHelper(environment: ["SLOTH_RUNNER_EXEC_SUPERVISOR": "/nonexistent/helper"]) == nil)
        #expect(ExecSupervision.locateHelper(environment: ["SLOTH_RUNNER_EXEC_SUPERVISOR": helper]) == helper)
    }

    @Test func commandsRunUnderTheSupervisorProgram() async throws {
        let helper = try #require(Self.helper)
        let supervision = ExecSupervision(helper: helper)
        let process = try supervision.start(executable: "/bin/sleep", arguments: ["sleep", "30"], environment: [:], directory: nil, stdin: nil)
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.supervisor)/exe")
        #expect(exe == ExecutablePath.real(helper), "the supervisor is the small program, not a copy of the engine")
        process.kill()
        let report = await process.finished()
        #expect(report.outcome == .signaled(SIGKILL) && report.killedOnRequest)
    }

    @Test(arguments: [true, false]) func bothWaysReportTheSameThings(useHelper: Bool) async throws {
        var helper: String?
        if useHelper {
            let found: String = try #require(Self.helper)
            helper = found
        }
        let supervision = ExecSupervision(helper: helper)
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }

        // Exit status, output, stdin, environment, working directory, and a background job
        // that is killed when the command ends.
        var out = ExecModule.Collector(), err = ExecModule.Collector()
        var process = try supervision.start(
            executable: "/bin/sh", arguments: ["sh", "-c", "read line; echo \"$line $FOO $(pwd)\"; echo oops >&2; sleep 30 & exit 3"],
            environment: ["FOO": "bar", "PATH": "/usr/bin:/bin"], directory: dir.path, stdin: Data("hello\n".utf8))
        process.read(stdout: out, stderr: err)
        var report = await process.finished()
        await out.done.wait(millis: 2000)
        await err.done.wait(millis: 2000)
        #expect(report.outcome == .exited(3))
        #expect(report.leftovers == 1, "the background sleep was found and killed")
        #expect(out.text == "hello bar \(ExecutablePath.real(dir.path) ?? dir.path)\n")
        #expect(err.text == "oops\n")

        // A program that cannot be executed is reported as not started, with the reason.
        out = ExecModule.Collector()
        err = ExecModule.Collector()
        process = try supervision.start(executable: dir.path, arguments: ["x"], environment: [:], directory: nil, stdin: nil)
        process.read(stdout: out, stderr: err)
        report = await process.finished()
        #expect(report.outcome == .notStarted(String(cString: strerror(EACCES))))

        // A working directory that vanished between the check and the start.
        process = try supervision.start(executable: "/bin/true", arguments: ["true"], environment: [:], directory: dir.path + "/gone", stdin: nil)
        report = await process.finished()
        #expect(report.outcome == .notStarted(String(cString: strerror(ENOENT))))
    }

    @Test func theSupervisorProgramRefusesToBeStartedByHand() throws {
        let helper = try #require(Self.helper)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: helper)
        p.arguments = ["--cwd", "", "/bin/true", "true"]
        let errPipe = Pipe()
        p.standardError = errPipe
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let message = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 2)
        #expect(message.contains("descriptors 3..7"), "\(message)")
    }
}
