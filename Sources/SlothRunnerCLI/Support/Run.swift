import ArgumentParser
import Foundation
import SlothRunner

/// Runs a command body, turning engine errors into a message on stderr and a meaningful exit code.
func runReporting(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as SlothError {
        ErrorReport.write(e.description, code: e.code, json: Startup.checked.invocation.wantsJSON)
        throw ExitCode(e.exitCode)
    } catch let e as ExitCode {
        throw e
    } catch {
        ErrorReport.write("\(error)", code: "error", json: Startup.checked.invocation.wantsJSON)
        throw ExitCode(1)
    }
}

/// An error on stderr: `error: message`, or under `-o json` one JSON object
/// (`{"error": {"code": "not_found", "message": "..."}}`, see docs/cli-json.md).
enum ErrorReport {
    static func write(_ message: String, code: String, json: Bool) {
        let text: String
        if json {
            text = JSONValue.object(["error": .object(["code": .string(code), "message": .string(message)])]).serialized() + "\n"
        } else {
            // Messages quote what users and hooks gave: control bytes in them would drive the terminal.
            text = "error: \(TerminalText.escapedBlock(message))\n"
        }
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// Who a change made from the command line is by (`cli:USER`), as events and replays record it.
var cliActor: String { "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? "unknown") }

/// Asks a yes/no question on the terminal; false without a terminal (scripts pass `--yes`).
func confirmOnTerminal(_ question: String) -> Bool {
    guard isatty(STDIN_FILENO) != 0, isatty(STDERR_FILENO) != 0 else { return false }
    FileHandle.standardError.write(Data("\(question) [y/N] ".utf8))
    guard let answer = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
    return answer == "y" || answer == "yes"
}

func printJSON(_ value: JSONValue) {
    print(value.serialized(pretty: true))
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(TerminalText.escapedBlock(message))\n".utf8))
}

/// Reads at most `limit` bytes from a file or stdin ("-"), refusing more: a command that reads
/// its input whole must not read without end (`yes | sloth-runner ...`).
func readBounded(_ file: String, limit: Int, what: String) throws(SlothError) -> Data {
    let handle: FileHandle
    if file == "-" {
        handle = FileHandle.standardInput
    } else {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDir) else { throw .notFound("\(what) \(file) does not exist") }
        guard !isDir.boolValue else { throw .invalidInput("\(what) \(file) is a directory") }
        guard let h = FileHandle(forReadingAtPath: file) else { throw .invalidInput("cannot read \(what) \(file)") }
        handle = h
    }
    var data = Data()
    while true {
        let chunk: Data
        do { chunk = try handle.read(upToCount: 64 << 10) ?? Data() } catch { throw .invalidInput("cannot read \(what) \(file): \(error.localizedDescription)") }
        if chunk.isEmpty { break }
        data.append(chunk)
        if data.count > limit {
            throw .invalidInput("\(what) \(file == "-" ? "on stdin" : file) is larger than \(limit) bytes")
        }
    }
    if file != "-" { try? handle.close() }
    return data
}

/// Reads a JSON object given inline or in a file; errors say where the JSON broke. Input is
/// read as bytes (so invalid UTF-8 is an error, not replaced) and bounded by `maxBytes`.
func readEventData(inline: String?, file: String?, maxBytes: Int = NewEvent.defaultMaxDataBytes) throws(SlothError) -> JSONValue {
    if inline != nil && file != nil { throw .invalidInput("give either --data or --data-file, not both") }
    var bytes = Array("{}".utf8)
    var origin = "--data"
    if let inline { bytes = Array(inline.utf8) }
    if let file {
        origin = file == "-" ? "stdin" : file
        // Whitespace and escapes may make the text larger than the data it holds.
        bytes = Array(try readBounded(file, limit: 4 * maxBytes + 4096, what: "the data file"))
    }
    let value: JSONValue
    do { value = try JSONValue.parse(bytes: bytes) } catch { throw .invalidInput("\(origin): \(error)") }
    guard case .object = value else { throw .invalidInput("\(origin): event data must be a JSON object like {\"key\": \"value\"}, got \(value.typeName)") }
    return value
}
