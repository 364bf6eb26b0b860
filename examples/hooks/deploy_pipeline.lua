-- Chains events: a started deployment is checked, then announced as a staging success, which
-- another hook (announce_staging.lua) picks up. Stack-isolated to production.
local hook = {
    name = "deployment_pipeline",
    description = "Validate a deployment and hand it on",
    event_type = "deploy.started",
    stack = "production",
    max_attempts = 2,
    retry_delay = "500ms",
}

function hook.execute(event)
    local deploy = event.data.deploy or {}
    if not deploy.version then
        error("deploy.started without data.deploy.version")
    end
    local events = require("event")
    local id = events.dispatch("deploy.staging_success", { deploy_id = deploy.deploy_id, version = deploy.version })
    print("staging ok for " .. deploy.version .. ", dispatched " .. id)
    return true, "staging deployment completed"
end

return hook
