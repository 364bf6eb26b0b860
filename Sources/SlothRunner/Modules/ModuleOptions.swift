/// Option tables of module calls: a key the call does not know is an error that suggests the
/// one meant, not a silently ignored setting (`timout = 5` would otherwise run with the default).
enum ModuleOptions {
    static func unknownKey(in options: [String: JSONValue], known: [String]) -> ModuleError? {
        for key in options.keys.sorted() where !known.contains(key) {
            return ModuleError("unknown option '\(key)'" + NameSuggestion.hint(for: key, among: known) + " (known: \(known.sorted().joined(separator: ", ")))")
        }
        return nil
    }
}
