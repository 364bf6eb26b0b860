import CLua
import CLuaShim
import Foundation
import Yams

/// `yaml.decode(text)` and `yaml.encode(value)`, through Yams; values map as in `json`.
enum YAMLModule {
    static let maxInputBytes = 4 << 20

    static let decode: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let text = LuaValues.string(at: 1, on: L) else { return HostFunctions.fail(L, "yaml.decode: expected a string") }
        guard text.utf8.count <= maxInputBytes else { return HostFunctions.fail(L, "yaml.decode: input is over \(maxInputBytes) bytes") }
        do {
            let value = try Yams.load(yaml: text)
            LuaValues.push(try json(from: value), on: L)
            return 1
        } catch let e as ModuleError {
            return HostFunctions.fail(L, "yaml.decode: \(e.message)")
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
            return HostFunctions.fail(L, "yaml.encode: \(e.message)")
        } catch {
            return HostFunctions.fail(L, "yaml.encode: \(error)")
        }
    }

    static func json(from value: Any?, depth: Int = 0) throws -> JSONValue {
        guard depth < JSONValue.maxDepth else { throw ModuleError("nesting deeper than \(JSONValue.maxDepth) levels") }
        switch value {
        case nil, is NSNull: return .null
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(Int64(i))
        case let d as Double: return .double(d)
        case let s as String: return .string(s)
        case let date as Date: return .string(ISO8601DateFormatter().string(from: date))
        case let data as Data: return .string(data.base64EncodedString())
        case let a as [Any]: return .array(try a.map { try json(from: $0, depth: depth + 1) })
        case let m as [AnyHashable: Any]:
            var o: [String: JSONValue] = [:]
            for (k, v) in m { o["\(k.base)"] = try json(from: v, depth: depth + 1) }
            return .object(o)
        default: return .string("\(value!)")
        }
    }

    /// The Foundation form Yams and Mustache render.
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
