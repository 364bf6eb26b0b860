import CLua
import CLuaShim
import Foundation
import Yams

/// `yaml.decode(text)` and `yaml.encode(value)`, through Yams; values map as in `json`.
///
/// Decoding composes the document into Yams' node tree, where an alias is the node it names
/// (shared, not copied), and converts that tree here with every node charged to the run's
/// budget: nine levels of `&a [*a, *a, ...]` expand to 9^9 nodes, so the expansion is what
/// must be bounded, not the text.
enum YAMLModule {
    static let maxInputBytes = 4 << 20

    static let decode: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let text = LuaValues.string(at: 1, on: L) else { return HostFunctions.fail(L, "yaml.decode: expected a string") }
        guard text.utf8.count <= maxInputBytes else { return HostFunctions.fail(L, "yaml.decode: input is over \(maxInputBytes) bytes") }
        var budget = HostFunctions.budget(L)
        do {
            guard let root = try Yams.compose(yaml: text) else {
                lua_pushnil(L)
                return 1
            }
            LuaValues.push(try json(from: root, budget: &budget), on: L)
            return 1
        } catch let why as WorkBudget.Exhausted {
            return HostFunctions.exhausted(L, why)
        } catch let e as ModuleError {
            return HostFunctions.fail(L, "yaml.decode: \(e.message)")
        } catch let e as YamlError {
            return HostFunctions.fail(L, "yaml.decode: \(describe(e))")
        } catch {
            return HostFunctions.fail(L, "yaml.decode: \(error)")
        }
    }

    static let encode: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        do {
            let value = try LuaValues.json(at: 1, on: L)
            LuaValues.pushString(try Yams.dump(object: foundation(value), sortKeys: true), on: L)
            return 1
        } catch let e as LuaValues.ConversionError {
            return HostFunctions.fail(L, "yaml.encode: \(e.description)")
        } catch {
            return HostFunctions.fail(L, "yaml.encode: \(error)")
        }
    }

    /// A YAML (or JSON) document read by Swift code (a cases file) as JSON; `what` names it in errors.
    package static func document(_ text: String, what: String) throws(SlothError) -> JSONValue {
        var budget = WorkBudget.unlimited
        do {
            guard let root = try Yams.compose(yaml: text) else { return .null }
            return try json(from: root, budget: &budget)
        } catch let e as YamlError {
            throw .invalidInput("\(what): \(describe(e))")
        } catch let e as ModuleError {
            throw .invalidInput("\(what): \(e.message)")
        } catch {
            throw .invalidInput("\(what): \(error)")
        }
    }

    /// Yams' parser errors quote the document around the problem; a line is enough.
    static func describe(_ error: YamlError) -> String {
        let text = "\(error)"
        let firstLine = text.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? text
        return firstLine.count > 300 ? String(firstLine.prefix(300)) + "…" : firstLine
    }

    /// The node as JSON, as Yams' default constructor reads it (bool, int, float, null,
    /// timestamp and binary scalars; `<<` merge keys), every node charged to `budget`.
    static func json(from node: Node, depth: Int = 0, budget: inout WorkBudget) throws -> JSONValue {
        guard depth < JSONValue.maxDepth else { throw ModuleError("nesting deeper than \(JSONValue.maxDepth) levels") }
        try budget.charge(WorkBudget.Cost.scalar)
        switch node {
        case .scalar(let scalar):
            try budget.charge(WorkBudget.Cost.stringOverhead + scalar.string.utf8.count)
            return self.scalar(scalar, tag: Tag.Name(rawValue: node.tag.description))
        case .sequence(let sequence):
            try budget.charge(WorkBudget.Cost.container)
            var items: [JSONValue] = []
            for item in sequence {
                try budget.charge(WorkBudget.Cost.scalar)
                items.append(try json(from: item, depth: depth + 1, budget: &budget))
            }
            return .array(items)
        case .mapping(let mapping):
            try budget.charge(WorkBudget.Cost.container)
            var object: [String: JSONValue] = [:]
            try merge(mapping, into: &object, depth: depth, budget: &budget)
            return .object(object)
        case .alias:
            throw ModuleError("unresolved alias")
        }
    }

    /// A mapping's entries; `<<: *base` (or a list of them) adds the named mappings' entries
    /// that the mapping does not set itself.
    static func merge(_ mapping: Node.Mapping, into object: inout [String: JSONValue], depth: Int, budget: inout WorkBudget) throws {
        var merged: [Node.Mapping] = []
        for (key, value) in mapping {
            try budget.charge(WorkBudget.Cost.entry)
            if key.tag.description == Tag.Name.merge.rawValue {
                switch value {
                case .mapping(let m): merged.append(m)
                case .sequence(let s):
                    for item in s {
                        guard case .mapping(let m) = item else { throw ModuleError("a merge key (<<) takes a mapping or a list of mappings") }
                        merged.append(m)
                    }
                default: throw ModuleError("a merge key (<<) takes a mapping or a list of mappings")
                }
                continue
            }
            let name: String
            switch try json(from: key, depth: depth + 1, budget: &budget) {
            case .string(let s): name = s
            case .null: name = "null"
            case let other: name = other.serialized()
            }
            object[name] = try json(from: value, depth: depth + 1, budget: &budget)
        }
        for m in merged {
            var base: [String: JSONValue] = [:]
            try merge(m, into: &base, depth: depth + 1, budget: &budget)
            for (k, v) in base where object[k] == nil { object[k] = v }
        }
    }

    static func scalar(_ scalar: Node.Scalar, tag: Tag.Name) -> JSONValue {
        switch tag {
        case .null: return .null
        case .bool: if let b = Bool.construct(from: scalar) { return .bool(b) }
        case .int:
            if let i = Int.construct(from: scalar) { return .int(Int64(i)) }
            if let d = Double.construct(from: scalar) { return .double(d) }
        case .float: if let d = Double.construct(from: scalar) { return .double(d) }  // .inf and .nan are Lua numbers
        case .timestamp: if let date = Date.construct(from: scalar) { return .string(ISO8601DateFormatter().string(from: date)) }
        case .binary: if let data = Data.construct(from: scalar) { return .string(data.base64EncodedString()) }
        default: break
        }
        return .string(scalar.string)
    }

    /// The Foundation form Yams renders.
    static func foundation(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let b): return b
        case .int(let i): return Int(i)
        case .double(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map(foundation)
        case .object(let o): return o.mapValues(foundation)
        }
    }
}
