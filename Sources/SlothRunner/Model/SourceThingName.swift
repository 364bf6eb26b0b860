/// The names of the things event sources run — schedules, checks, watches: 1-64 lowercase
/// letters, digits, '.', '_' or '-' (they appear in events, logs and commands, unquoted).
package enum SourceThingName {
    package static func validate(_ name: String, what: String) throws(SlothError) {
        guard !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E })
        else { throw .invalidInput("\(what) name '\(name)' must be 1-64 lowercase letters, digits, '.', '_' or '-'") }
    }
}
