-- Reports a failed task. The specification's first example, with the Slack call replaced by
-- structured log lines (the http module arrives with the modules issue).
local hook = {
    name = "notify_on_failure",
    description = "Report failed tasks",
    event_type = "task.failed",
}

function hook.execute(event)
    local log = require("log")
    local task = event.data.task or {}
    log.error("task failed", { task = task.task_name, agent = task.agent_name, error = task.error })
    return true, string.format("reported %s on %s", tostring(task.task_name), tostring(task.agent_name))
end

return hook
