import ArgumentParser
import Foundation
import SlothRunner

/// Runs a command body, turning engine errors into a message on stderr and a meaningful exit code.
func runReporting(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as SlothError {
        FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
        throw ExitCode(e.exitCode)
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

func printJSON(_ value: JSONValue) {
    print(value.serialized(pretty: true))
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

/// Reads a JSON object given inline or in a file; errors say where the JSON broke.
func readEventData(inline: String?, file: String?) throws(SlothError) -> JSONValue {
    if inline != nil && file != nil { throw .invalidInput("give either --data or --data-file, not both") }
    var text = "{}"
    var origin = "--data"
    if let inline { text = inline }
    if let file {
        origin = file
        if file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let d = FileManager.default.contents(atPath: file) else { throw .notFound("data file \(file) does not exist or cannot be read") }
            text = String(decoding: d, as: UTF8.self)
        }
    }
    let value: JSONValue
    do { value = try JSONValue.parse(text) } catch { throw .invalidInput("\(origin): \(error)") }
    guard case .object = value else { throw .invalidInput("\(origin): event data must be a JSON object like {\"key\": \"value\"}, got \(value.typeName)") }
    return value
}
