/// Trusted Lua code, loaded once per Lua state. It runs in the state's real globals, which no
/// hook ever sees: every run gets a fresh environment with its own copies of the library
/// tables, so nothing a hook does to its globals or libraries reaches the next run.
/// Returns `run(chunk, event)` and `inspect(chunk)`.
let luaPrelude = #"""
local H, G = ...
local type, error, select, tostring, rawget, rawset, setmetatable, next, load =
      type, error, select, tostring, rawget, rawset, setmetatable, next, load
local concat, sort = table.concat, table.sort
local copy, bind = H.copy, H.bind

-- The string metatable is shared by every run: hide it, and drop string.dump from the table it
-- indexes (reachable as ("").dump otherwise).
G.string.dump = nil
getmetatable("").__metatable = false

local base = {}
for _, k in next, {"assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
                   "rawlen", "rawset", "select", "tonumber", "tostring", "type", "xpcall",
                   "getmetatable", "_VERSION"} do
  base[k] = G[k]
end
local libs = {
  string = copy(G.string), table = copy(G.table), math = copy(G.math), utf8 = copy(G.utf8),
  coroutine = copy(G.coroutine),
  os = { time = G.os.time, clock = G.os.clock, date = G.os.date, difftime = G.os.difftime },
}
local collectgarbage = G.collectgarbage
local allowed_gc = { collect = true, count = true, step = true, isrunning = true }

local function checked(f, name)
  return function(...)
    local ok, result = f(...)
    if not ok then error(name .. ": " .. tostring(result), 2) end
    return result
  end
end

local modules = {
  json = function()
    return { encode = H.json_encode, decode = H.json_decode, null = H.null }
  end,
  log = function()
    local function at(level)
      return function(message, fields) H.log(level, tostring(message), fields) end
    end
    return { debug = at("debug"), info = at("info"), warn = at("warn"), error = at("error") }
  end,
  event = function()
    return { dispatch = checked(H.dispatch, "event.dispatch") }
  end,
}
local module_names = {}
for name in next, modules do module_names[#module_names + 1] = name end
sort(module_names)
module_names = concat(module_names, ", ")

local function new_env()
  local env = copy(base)
  for name, lib in next, libs do env[name] = copy(lib) end
  env._G = env
  env.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("__gc metamethods are not available to hooks", 2)
    end
    return setmetatable(t, mt)
  end
  env.load = function(chunk, name, _, ...)
    local target = env
    if select("#", ...) > 0 then target = ... end
    return load(chunk, name, "t", target)
  end
  env.print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    H.output(concat(parts, "\t"))
  end
  env.sleep = checked(H.sleep, "sleep")
  env.collectgarbage = function(opt, arg)
    opt = opt or "collect"
    if not allowed_gc[opt] then error("collectgarbage('" .. tostring(opt) .. "') is not available to hooks", 2) end
    return collectgarbage(opt, arg)
  end
  local loaded = {}
  env.require = function(name)
    if type(name) ~= "string" then
      error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 2)
    end
    local m = loaded[name]
    if m == nil then
      local make = modules[name]
      if make == nil then error("module '" .. name .. "' not found; hooks can require: " .. module_names, 2) end
      m = make()
      loaded[name] = m
    end
    return m
  end
  return env
end

local NO_CONTRACT = "the hook neither returns a table with an execute(event) function nor defines a global on_event()"

local function load_hook(chunk)
  local env = new_env()
  bind(chunk, env)
  local ret = chunk()
  if type(ret) == "table" then
    if type(rawget(ret, "execute")) ~= "function" then
      error("the returned hook table has no execute(event) function", 0)
    end
    return env, ret
  end
  if ret ~= nil then
    error("a hook file must return its hook table (or define a global on_event()); it returned a " .. type(ret), 0)
  end
  if type(rawget(env, "on_event")) ~= "function" then error(NO_CONTRACT, 0) end
  return env, nil
end

local function run(chunk, event)
  local env, hook = load_hook(chunk)
  if hook then return rawget(hook, "execute")(event) end
  rawset(env, "event", event)
  return rawget(env, "on_event")(event)
end

local function inspect(chunk)
  local env, hook = load_hook(chunk)
  if hook then return "table", hook end
  local meta = rawget(env, "hook")
  if type(meta) ~= "table" then meta = {} end
  return "global", meta
end

return run, inspect
"""#
