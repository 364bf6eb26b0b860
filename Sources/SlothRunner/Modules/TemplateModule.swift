import CLua
import CLuaShim
import Foundation
import Mustache

/// `template.render(text, data)`: Mustache templates (swift-mustache): `{{name}}` escapes
/// HTML, `{{{name}}}` does not, `{{#list}}...{{/list}}` repeats, `{{^x}}...{{/x}}` inverts,
/// `{{a.b}}` reaches into tables.
enum TemplateModule {
    static let maxOutputBytes = 16 << 20

    static let render: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let text = LuaValues.string(at: 1, on: L) else { return HostFunctions.fail(L, "template.render: expected the template text") }
        var data = JSONValue.object([:])
        if lua_type(L, 2) != LUA_TNIL && lua_type(L, 2) != LUA_TNONE {
            do { data = try LuaValues.json(at: 2, on: L) } catch { return HostFunctions.fail(L, "template.render: \(error)") }
        }
        let template: MustacheTemplate
        do { template = try MustacheTemplate(string: text) } catch let e as MustacheTemplate.ParserError {
            return HostFunctions.fail(L, "template.render: invalid template at line \(e.context.lineNumber), column \(e.context.columnNumber): \(e.error)")
        } catch {
            return HostFunctions.fail(L, "template.render: invalid template: \(error)")
        }
        let output = template.render(YAMLModule.foundation(data))
        guard output.utf8.count <= maxOutputBytes else { return HostFunctions.fail(L, "template.render: output is over \(maxOutputBytes) bytes") }
        LuaValues.pushString(output, on: L)
        return 1
    }
}
