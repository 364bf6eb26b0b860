import Foundation
import SlothRunner
import SlothRunnerSources

/// Every setting's value and where it came from: a flag, else the environment, else the config
/// file, else the default.
struct EffectiveSettings: Sendable {
    enum Source: Sendable, CustomStringConvertible {
        case builtIn
        case file(path: String, line: Int)
        case environment(String)
        case flag(String)

        var description: String {
            switch self {
            case .builtIn: return "default"
            case .file(let path, let line): return "\(path):\(line)"
            case .environment(let name): return "env \(name)"
            case .flag(let flag): return "flag \(flag)"
            }
        }
    }

    struct Entry: Sendable {
        let setting: Setting
        /// nil: unset, the computed default applies (see the setting's help).
        let value: SettingValue?
        let source: Source
    }

    let entries: [Entry]
    let configPath: String?
    /// The config file's `webhooks:` (empty without the section; nil without a file).
    let webhooks: [ConfigFile.WebhookEntry]?
    /// The config file's event-source sections (`monitor:`, …), each read by its source.
    let sources: [String: SourceConfigNode]
    private let byKey: [String: Int]

    /// `flags`: setting key → the flag's text, for flags given on the command line.
    static func resolve(file: ConfigFile?, environment: [String: String], flags: [String: String]) throws(SlothError) -> EffectiveSettings {
        var entries: [Entry] = []
        for setting in SettingCatalog.all {
            if let flag = setting.flag, let text = flags[setting.key] {
                entries.append(Entry(setting: setting, value: try setting.parse(text, origin: flag).get(), source: .flag(flag)))
            } else if let name = [setting.environment, setting.environmentAlias].compactMap({ $0 }).first(where: { environment[$0]?.isEmpty == false }),
                      let text = environment[name] {
                entries.append(Entry(setting: setting, value: try setting.parse(text, origin: "\(name) (\(setting.key))").get(), source: .environment(name)))
            } else if let file, let found = file.values[setting.key] {
                entries.append(Entry(setting: setting, value: found.value, source: .file(path: file.path, line: found.line)))
            } else {
                entries.append(Entry(setting: setting, value: setting.defaultValue, source: .builtIn))
            }
        }
        return EffectiveSettings(entries: entries, configPath: file?.path, webhooks: file?.webhooks, sources: file?.sources ?? [:])
    }

    private init(entries: [Entry], configPath: String?, webhooks: [ConfigFile.WebhookEntry]?, sources: [String: SourceConfigNode]) {
        self.sources = sources
        self.entries = entries
        self.configPath = configPath
        self.webhooks = webhooks
        byKey = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.setting.key, $0) })
    }

    func entry(_ key: String) -> Entry {
        guard let i = byKey[key] else { preconditionFailure("no setting \(key) in SettingCatalog") }
        return entries[i]
    }

    func value(_ key: String) -> SettingValue? { entry(key).value }

    func integer(_ key: String) -> Int? {
        if case .integer(let n) = value(key) { return n }
        return nil
    }

    func text(_ key: String) -> String? {
        if case .text(let s) = value(key) { return s }
        return nil
    }

    func boolean(_ key: String) -> Bool {
        if case .boolean(let b) = value(key) { return b }
        return false
    }

    func list(_ key: String) -> [String]? {
        if case .list(let items) = value(key) { return items }
        return nil
    }

    /// Where a setting's value came from, for messages ("--workers", "SLOTH_RUNNER_WORKERS", "config.yaml:3").
    func origin(_ key: String) -> String {
        let e = entry(key)
        switch e.source {
        case .flag(let f): return f
        case .environment(let name): return name
        case .file(let path, let line): return "\(path):\(line) (\(key))"
        case .builtIn: return e.setting.flag ?? key
        }
    }
}
