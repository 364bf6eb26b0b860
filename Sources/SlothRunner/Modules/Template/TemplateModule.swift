import CLua
import CLuaShim

/// `template.render(text, data)`: Mustache — `{{name}}` escapes HTML, `{{{name}}}` and
/// `{{& name}}` do not, `{{#list}}...{{/list}}` repeats (or shows once for a truthy value),
/// `{{^x}}...{{/x}}` shows when x is false or empty, `{{a.b}}` reaches into tables, `{{.}}` is
/// the current item, `{{! comment}}`, `{{=<% %>=}}` changes the delimiters. The output is bounded
/// (16 MiB, and the run's memory limit); so are the template (1 MiB) and its nesting (32).
enum TemplateModule {
    static let maxOutputBytes = 16 << 20

    static let render: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        guard let text = LuaValues.validString(at: 1, on: L) else {
            return HostFunctions.fail(L, lua_type(L, 1) == LUA_TSTRING ? "template.render: the template is not valid UTF-8" : "template.render: expected the template text")
        }
        var data = JSONValue.object([:])
        if lua_type(L, 2) != LUA_TNIL && lua_type(L, 2) != LUA_TNONE {
            do { data = try LuaValues.json(at: 2, on: L) } catch let e as LuaValues.ConversionError {
                return HostFunctions.fail(L, "template.render: \(e.description)")
            } catch { return HostFunctions.fail(L, "template.render: \(error)") }
        }
        let template: ParsedTemplate
        do { template = try ParsedTemplate(text) } catch let e as ParsedTemplate.SyntaxError {
            return HostFunctions.fail(L, "template.render: \(e.description)")
        } catch { return HostFunctions.fail(L, "template.render: \(error)") }
        var renderer = TemplateRenderer(budget: HostFunctions.budget(L), maxOutputBytes: maxOutputBytes)
        do {
            LuaValues.pushString(try renderer.render(template, data: data), on: L)
            return 1
        } catch TemplateRenderer.Failure.exhausted(let why) {
            return HostFunctions.exhausted(L, why)
        } catch TemplateRenderer.Failure.tooLarge(let limit) {
            return HostFunctions.fail(L, "template.render: the output would be larger than \(limit) bytes")
        } catch {
            return HostFunctions.fail(L, "template.render: \(error)")
        }
    }
}
