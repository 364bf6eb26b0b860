import ArgumentParser
import Foundation
import SlothRunner

struct HookNew: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Write a documented hook file and a cases file for it from a template.",
        discussion: """
            Writes NAME.lua and NAME.cases.yaml (in --dir, default the current directory); an
            existing file is never overwritten. Test the hook with its cases, then register it:

              sloth-runner hook new notify_slack --template slack --event-type task.failed
              sloth-runner hook test notify_slack.lua --cases notify_slack.cases.yaml
              sloth-runner hook add notify_slack.lua

            `sloth-runner hook templates` lists the templates.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The hook's name (letters, digits, '_', '-', '.').") var name: String
    @Option(help: "The template: slack, webhook-forward, exec-remediation, cooldown, chain, audit.") var template: String
    @Option(help: "The event type or pattern it listens to (default: the template's).") var eventType: String?
    @Option(help: "Where to write the files.") var dir = "."

    func run() async throws {
        try await runReporting {
            try Hook.validateName(name)
            let t = try HookTemplate.named(template)
            if let eventType { _ = try EventPattern(eventType) }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw SlothError.notFound("--dir \(dir) is not a directory")
            }
            let (hookText, casesText) = t.render(hookName: name, eventType: eventType)
            let hookPath = (dir as NSString).appendingPathComponent(name + ".lua")
            let casesPath = (dir as NSString).appendingPathComponent(name + ".cases.yaml")
            for path in [hookPath, casesPath] where FileManager.default.fileExists(atPath: path) {
                throw SlothError.conflict("\(path) exists already; remove it or pick another name (nothing was written)")
            }
            for (path, text) in [(hookPath, hookText), (casesPath, casesText)] {
                guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
                    throw SlothError.storage("could not write \(path)")
                }
            }
            if global.json {
                printJSON(.object(["template": .string(t.name), "hook_file": .string(hookPath), "cases_file": .string(casesPath)]))
            } else {
                print("Wrote \(hookPath) and \(casesPath) (template \(t.name)).")
                print("Next: sloth-runner hook test \(hookPath) --cases \(casesPath)")
            }
        }
    }
}

struct HookTemplates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "templates", abstract: "List the templates `hook new` writes hooks from.",
        discussion: "Example:\n  sloth-runner hook templates")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            if global.json {
                printJSON(.array(HookTemplate.all.map {
                    .object(["name": .string($0.name), "summary": .string($0.summary), "event_type": .string($0.defaultEventType)])
                }))
                return
            }
            var t = Table(["Template", "Listens to", "What it does"])
            for template in HookTemplate.all { t.add([template.name, template.defaultEventType, template.summary]) }
            print(t.render(headers: !global.noHeaders))
        }
    }
}
