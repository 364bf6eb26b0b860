import SlothRunner

enum Hint {
    /// ` (did you mean 'type'?)` for a near miss, else nothing.
    static func didYouMean(_ name: String, among known: some Sequence<String>) -> String {
        NameSuggestion.closest(to: name, among: known).map { " (did you mean '\($0)'?)" } ?? ""
    }
}
