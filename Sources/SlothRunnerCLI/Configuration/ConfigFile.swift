import Foundation
import SlothRunner
import Yams

/// The settings a YAML config file holds, each with the line it is on (for errors and
/// `config show`). Unknown sections and keys are errors, with a suggestion: a misspelt key
/// silently ignored is a setting the operator believes in and does not have.
struct ConfigFile: Sendable {
    let path: String
    let values: [String: (value: SettingValue, line: Int)]

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
        guard let top = root.mapping else { throw .invalidInput("\(path):\(line(root)): the config file must be a mapping of settings (key: value), not a \(kindName(root))") }
        var values: [String: (SettingValue, Int)] = [:]
        for (keyNode, valueNode) in top {
            let name = try keyText(keyNode, path: path)
            if let setting = SettingCatalog.byKey[name], !name.contains(".") {
                values[setting.key] = (try value(valueNode, for: setting, path: path), line(keyNode))
                continue
            }
            guard let keys = SettingCatalog.sections[name] else {
                let known = SettingCatalog.sections.keys.map { $0 } + SettingCatalog.all.filter { !$0.key.contains(".") }.map(\.key)
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
        return ConfigFile(path: path, values: values)
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
