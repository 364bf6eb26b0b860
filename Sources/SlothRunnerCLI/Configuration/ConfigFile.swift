import Foundation
import SlothRunner
import SlothRunnerSources
import Yams

/// The settings a YAML config file holds, each with the line it is on (for errors and
/// `config show`). Unknown sections and keys are errors, with a suggestion: a misspelt key
/// silently ignored is a setting the operator believes in and does not have.
struct ConfigFile: Sendable {
    let path: String
    let values: [String: (value: SettingValue, line: Int)]
    /// The `webhooks:` section: each webhook's fields as written, with their lines.
    var webhooks: [WebhookEntry] = []
    /// The event sources' sections (`monitor:`, `checks:`, `watches:`, `schedules:`) as
    /// written, each read and checked by its source.
    var sources: [String: SourceConfigNode] = [:]
    static let sourceSections = ["monitor", "checks", "watches", "schedules"]

    /// One entry of `webhooks:` (`NAME: {event_type: ..., verify: ..., secret: ...}`).
    struct WebhookEntry: Sendable {
        let name: String
        let line: Int
        let fields: [String: (text: String, line: Int)]
    }
    static let webhookFields = ["event_type", "verify", "secret", "stack", "signature_header", "delivery_header"]

    /// The largest file read: a config file is a screenful, not a database.
    static let maxBytes = 1 << 20

    static func load(path: String) throws(SlothError) -> ConfigFile {
        let data = try readBounded(path, limit: maxBytes, what: "the config file")
        guard let text = String(validating: Array(data), as: UTF8.self) else { throw .invalidInput("\(path): the config file is not UTF-8 text") }
        return try parse(text, path: path)
    }

    static func parse(_ text: String, path: String) throws(SlothError) -> ConfigFile {
        // Yams refuses a key given twice in one mapping (a setting with two values).
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw .invalidInput("\(path): not valid YAML: \(error)")
        }
        guard let root else { return ConfigFile(path: path, values: [:]) }  // an empty file sets nothing
        var webhooks: [WebhookEntry] = []
        var sources: [String: SourceConfigNode] = [:]
        guard let top = root.mapping else { throw .invalidInput("\(path):\(line(root)): the config file must be a mapping of settings (key: value), not a \(kindName(root))") }
        var values: [String: (SettingValue, Int)] = [:]
        for (keyNode, valueNode) in top {
            let name = try keyText(keyNode, path: path)
            if name == "webhooks" {
                webhooks = try webhookEntries(valueNode, path: path)
                continue
            }
            if sourceSections.contains(name) {
                sources[name] = try sourceNode(valueNode, path: path, field: name)
                continue
            }
            if let setting = SettingCatalog.byKey[name], !name.contains(".") {
                values[setting.key] = (try value(valueNode, for: setting, path: path), line(keyNode))
                continue
            }
            guard let keys = SettingCatalog.sections[name] else {
                let known = SettingCatalog.sections.keys.map { $0 } + ["webhooks"] + sourceSections + SettingCatalog.all.filter { !$0.key.contains(".") }.map(\.key)
                throw .invalidInput("\(path):\(line(keyNode)): unknown setting '\(name)'" + NameSuggestion.hint(for: name, among: known))
            }
            if case .scalar(let s) = valueNode, s.tag == .implicit, s.string.isEmpty || s.string == "~" || s.string == "null" { continue }  // an empty section
            guard let section = valueNode.mapping else {
                throw .invalidInput("\(path):\(line(valueNode)): '\(name)' must be a mapping of its settings (\(keys.sorted().prefix(3).joined(separator: ", ")), ...), not a \(kindName(valueNode))")
            }
            for (subKeyNode, subValueNode) in section {
                let sub = try keyText(subKeyNode, path: path)
                guard keys.contains(sub), let setting = SettingCatalog.byKey["\(name).\(sub)"] else {
                    throw .invalidInput("\(path):\(line(subKeyNode)): unknown setting '\(name).\(sub)'" + NameSuggestion.hint(for: sub, among: keys).replacingOccurrences(of: "mean '", with: "mean '\(name)."))
                }
                values[setting.key] = (try value(subValueNode, for: setting, path: path), line(subKeyNode))
            }
        }
        return ConfigFile(path: path, values: values, webhooks: webhooks, sources: sources)
    }

    private static func sourceNode(_ node: Node, path: String, field: String) throws(SlothError) -> SourceConfigNode {
        switch node {
        case .scalar(let s):
            return SourceConfigNode(value: .scalar(s.string), line: line(node), file: path, field: field)
        case .sequence(let items):
            var out: [SourceConfigNode] = []
            for (i, item) in items.enumerated() { out.append(try sourceNode(item, path: path, field: "\(field)[\(i)]")) }
            return SourceConfigNode(value: .sequence(out), line: line(node), file: path, field: field)
        case .mapping(let mapping):
            var pairs: [(key: String, value: SourceConfigNode)] = []
            for (k, v) in mapping {
                let key = try keyText(k, path: path)
                pairs.append((key, try sourceNode(v, path: path, field: field + "." + key)))
            }
            return SourceConfigNode(value: .mapping(pairs), line: line(node), file: path, field: field)
        case .alias:
            throw .invalidInput("\(path):\(line(node)): \(field): aliases are not supported here")
        }
    }

    private static func webhookEntries(_ node: Node, path: String) throws(SlothError) -> [WebhookEntry] {
        if case .scalar(let s) = node, s.tag == .implicit, s.string.isEmpty || s.string == "~" || s.string == "null" { return [] }
        guard let section = node.mapping else {
            throw .invalidInput("\(path):\(line(node)): 'webhooks' must map each webhook's name to its fields (event_type, verify, secret, ...), not a \(kindName(node))")
        }
        var out: [WebhookEntry] = []
        for (nameNode, fieldsNode) in section {
            let name = try keyText(nameNode, path: path)
            guard let mapping = fieldsNode.mapping else {
                throw .invalidInput("\(path):\(line(fieldsNode)): webhooks.\(name) must be a mapping of its fields (event_type, verify, secret, ...), not a \(kindName(fieldsNode))")
            }
            var fields: [String: (String, Int)] = [:]
            for (keyNode, valueNode) in mapping {
                let key = try keyText(keyNode, path: path)
                guard webhookFields.contains(key) else {
                    throw .invalidInput("\(path):\(line(keyNode)): unknown field 'webhooks.\(name).\(key)'" + NameSuggestion.hint(for: key, among: webhookFields)
                        + "; known: \(webhookFields.joined(separator: ", "))")
                }
                guard case .scalar(let scalar) = valueNode else {
                    throw .invalidInput("\(path):\(line(valueNode)): webhooks.\(name).\(key) takes a value, not a \(kindName(valueNode))")
                }
                fields[key] = (scalar.string, line(keyNode))
            }
            for required in ["event_type", "verify"] where fields[required] == nil {
                throw .invalidInput("\(path):\(line(nameNode)): webhooks.\(name) needs \(required)")
            }
            out.append(WebhookEntry(name: name, line: line(nameNode), fields: fields))
        }
        return out
    }

    private static func value(_ node: Node, for setting: Setting, path: String) throws(SlothError) -> SettingValue {
        let origin = "\(path):\(line(node)): \(setting.key)"
        let result: Result<SettingValue, SlothError>
        switch node {
        case .scalar(let scalar):
            result = setting.parse(scalar.string, origin: origin)
        case .sequence(let sequence):
            var items: [String] = []
            for item in sequence {
                guard case .scalar(let s) = item else {
                    throw .invalidInput("\(path):\(line(item)): \(setting.key) takes a list of names, not of \(kindName(item))s")
                }
                items.append(s.string)
            }
            result = setting.parse(list: items, origin: origin)
        default:
            result = .failure(.invalidInput("\(origin) takes a value, not a \(kindName(node))"))
        }
        return try result.get()
    }

    private static func keyText(_ node: Node, path: String) throws(SlothError) -> String {
        guard case .scalar(let s) = node else { throw .invalidInput("\(path):\(line(node)): a setting's name must be text, not a \(kindName(node))") }
        return s.string
    }

    private static func line(_ node: Node) -> Int { node.mark?.line ?? 0 }

    private static func kindName(_ node: Node) -> String {
        switch node {
        case .scalar: return "value"
        case .mapping: return "mapping"
        case .sequence: return "list"
        case .alias: return "alias"
        }
    }
}
