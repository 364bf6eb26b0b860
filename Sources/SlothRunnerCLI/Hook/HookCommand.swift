import ArgumentParser

struct HookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Register and manage Lua hooks.",
        discussion: """
            Examples:
              sloth-runner hook add notify.lua --stack production
              sloth-runner hook list --enabled
              sloth-runner hook history notify_on_failure --limit 20 --failed
              sloth-runner hook test notify.lua --type task.failed --data '{"task":{"task_name":"x"}}'
              sloth-runner hook new notify_slack --template slack && sloth-runner hook test notify_slack.lua --cases notify_slack.cases.yaml
              sloth-runner hook test notify.lua --history 'type=task.failed since=24h'
            """,
        subcommands: [
            HookAdd.self, HookList.self, HookGet.self, HookEnable.self, HookDisable.self, HookRemove.self,
            HookHistory.self, HookUpdate.self, HookTest.self, HookNew.self, HookTemplates.self,
        ]
    )
}
