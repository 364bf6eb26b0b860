import ArgumentParser

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Dispatch, inspect and manage events.",
        discussion: """
            Event ids can be shortened to any unique prefix.

            Examples:
              sloth-runner events dispatch deploy.started --data '{"deploy":{"version":"v2"}}' --stack production
              sloth-runner events list --status failed --since 24h
              sloth-runner events show 0193a1b2
              sloth-runner events explain 0193a1b2
              sloth-runner events replay 0193a1b2 --hook notify_slack
              sloth-runner events cleanup --older-than 720h
            """,
        subcommands: [
            EventsDispatch.self, EventsList.self, EventsGet.self, EventsShow.self, EventsDelete.self, EventsCleanup.self,
            EventsRetry.self, EventsReplay.self, EventsExplain.self, EventsTypes.self,
        ]
    )
}
