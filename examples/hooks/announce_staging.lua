-- Sees the events dispatched by deploy_pipeline (same stack, carried along the chain).
local hook = {
    name = "announce_staging",
    event_type = { "deploy.staging_success", "deploy.failed" },
    stack = "production",
}

function hook.execute(event)
    local json = require("json")
    print("chain depth " .. event.chain_depth .. " from " .. tostring(event.parent_id))
    return true, "announced " .. json.encode(event.data)
end

return hook
