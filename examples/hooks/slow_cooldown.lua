-- Waits without holding a thread: sleep() suspends this hook's coroutine.
local hook = {
    name = "cpu_cooldown",
    event_type = "system.cpu_high",
    timeout = "5s",
}

function hook.execute(event)
    sleep(0.2)
    return true, "cooled down after " .. tostring(event.data.usage_percent) .. "%"
end

return hook
