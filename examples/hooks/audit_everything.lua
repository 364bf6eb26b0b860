-- The older global form: a global on_event() reading the global `event`. Metadata comes from a
-- global `hook` table. Listens to every event of every stack.
hook = { name = "audit_everything", event_type = "*", description = "Log every event" }

function on_event()
    print(string.format("[audit] %s %s stack=%s attempt=%d", event.id, event.type, tostring(event.stack), event.attempt))
    return true
end
