/// Trusted Lua code, loaded once per Lua state. It runs in the state's real globals, which no
/// hook ever sees: every run gets a fresh environment with its own copies of the library
/// tables, so nothing a hook does to its globals or libraries reaches the next run.
/// Returns `run(chunk, event)` and `inspect(chunk)`.
let luaPrelude = #"""
local H, G = ...
local type, error, select, tostring, rawget, rawset, setmetatable, next, load =
      type, error, select, tostring, rawget, rawset, setmetatable, next, load
local concat, sort = table.concat, table.sort
local bind = H.bind

-- The string metatable is shared by every run: hide it, and drop string.dump from the table it
-- indexes (reachable as ("").dump otherwise).
G.string.dump = nil
getmetatable("").__metatable = false

-- Library tables are shared by every run behind read-only proxies: reading goes straight to
-- the real table (a C-level __index), writing raises, and rawset refuses them. That keeps a
-- fresh environment per run down to one table and two closures.
local frozen = setmetatable({}, { __mode = "k" })
local function readonly(name, real)
  local proxy = setmetatable({}, {
    __index = real,
    __newindex = function() error("attempt to modify the read-only '" .. name .. "' library", 2) end,
    __pairs = function() return next, real, nil end,
    __len = function() return #real end,
    __metatable = false,
  })
  frozen[proxy] = true
  return proxy
end

-- Table functions whose amount of work a hook controls run as Lua when that amount is large,
-- so the count hook bounds them like any loop: C's table.move loops e - f + 1 times whatever
-- the table holds, table.insert/remove trust what a __len metamethod answers, and table.sort
-- on a huge array would compare for longer than any timeout inside one C call.
do
  local tbl, getmetatable, tointeger, maxinteger, rawlen = G.table, getmetatable, G.math.tointeger, G.math.maxinteger, rawlen
  local c_insert, c_remove, c_move, c_sort = tbl.insert, tbl.remove, tbl.move, tbl.sort
  local function argerror(n, fname, what) error("bad argument #" .. n .. " to '" .. fname .. "' (" .. what .. ")", 3) end
  local function integer(v, n, fname)
    local i = tointeger(v)
    if i ~= nil then return i end
    if type(v) == "number" then argerror(n, fname, "number has no integer representation") end
    argerror(n, fname, "number expected, got " .. (v == nil and "no value" or type(v)))
  end
  local function length(t)
    local n = tointeger(#t)
    if n == nil then error("object length is not an integer", 3) end
    return n
  end
  local function table_arg(t, n, fname)
    if type(t) ~= "table" then argerror(n, fname, "table expected, got " .. (t == nil and "no value" or type(t))) end
  end

  tbl.insert = function(t, ...)
    if getmetatable(t) == nil then return c_insert(t, ...) end
    table_arg(t, 1, "insert")
    local e = length(t) + 1
    local nargs = select("#", ...)
    if nargs == 1 then t[e] = ...; return end
    if nargs ~= 2 then error("wrong number of arguments to 'insert'", 2) end
    local pos, value = ...
    pos = integer(pos, 2, "insert")
    if pos < 1 or pos > e then argerror(2, "insert", "position out of bounds") end
    for i = e, pos + 1, -1 do t[i] = t[i - 1] end
    t[pos] = value
  end

  tbl.remove = function(t, ...)
    if getmetatable(t) == nil then return c_remove(t, ...) end
    table_arg(t, 1, "remove")
    local size = length(t)
    local pos = size
    if select("#", ...) > 0 and (...) ~= nil then pos = integer((...), 2, "remove") end
    if pos ~= size and (pos < 1 or pos > size + 1) then argerror(2, "remove", "position out of bounds") end
    local value = t[pos]
    for i = pos, size - 1 do t[i] = t[i + 1] end
    t[pos < size and size or pos] = nil
    return value
  end

  tbl.move = function(a1, f, e, t, a2)
    local fi, ei, ti = integer(f, 2, "move"), integer(e, 3, "move"), integer(t, 4, "move")
    if ei < fi or ei - fi < 4096 then return c_move(a1, f, e, t, a2) end
    if a2 == nil then a2 = a1 end
    table_arg(a1, 1, "move")
    table_arg(a2, 5, "move")
    if not (fi > 0 or ei < maxinteger + fi) then argerror(3, "move", "too many elements to move") end
    local last = ei - fi
    if ti > maxinteger - last then argerror(4, "move", "destination wrap around") end
    if ti > ei or ti <= fi or a2 ~= a1 then
      for i = 0, last do a2[ti + i] = a1[fi + i] end
    else
      for i = last, 0, -1 do a2[ti + i] = a1[fi + i] end
    end
    return a2
  end

  local function less(a, b) return a < b end
  tbl.sort = function(t, cmp)
    if cmp == nil and type(t) == "table" and rawlen(t) > 65536 then cmp = less end
    return c_sort(t, cmp)
  end
end

local base = {}
for _, k in next, {"assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
                   "rawlen", "select", "tonumber", "tostring", "type", "xpcall",
                   "getmetatable", "_VERSION"} do
  base[k] = G[k]
end
base.string = readonly("string", G.string)
base.table = readonly("table", G.table)
base.math = readonly("math", G.math)
base.utf8 = readonly("utf8", G.utf8)
base.coroutine = readonly("coroutine", G.coroutine)
base.os = readonly("os", { time = G.os.time, clock = G.os.clock, date = G.os.date, difftime = G.os.difftime })

local collectgarbage = G.collectgarbage
local allowed_gc = { collect = true, count = true, step = true, isrunning = true }

local function checked(f, name)
  return function(...)
    local ok, result = f(...)
    if not ok then error(name .. ": " .. tostring(result), 2) end
    return result
  end
end

base.rawset = function(t, k, v)
  if frozen[t] then error("attempt to modify a read-only library table", 2) end
  return rawset(t, k, v)
end
base.setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not available to hooks", 2)
  end
  return setmetatable(t, mt)
end
base.print = function(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  H.output(concat(parts, "\t"))
end
base.sleep = checked(H.sleep, "sleep")
base.collectgarbage = function(opt, arg)
  opt = opt or "collect"
  if not allowed_gc[opt] then error("collectgarbage('" .. tostring(opt) .. "') is not available to hooks", 2) end
  return collectgarbage(opt, arg)
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
  env = function()
    return { get = H.env_get }
  end,
  crypto = function()
    return {
      sha256 = H.crypto_sha256, sha512 = H.crypto_sha512, hmac_sha256 = H.crypto_hmac_sha256, hmac_sha512 = H.crypto_hmac_sha512,
      constant_time_equals = H.crypto_constant_time_equals,
      encrypt = checked(H.crypto_encrypt, "crypto.encrypt"), decrypt = checked(H.crypto_decrypt, "crypto.decrypt"),
      base64_encode = H.crypto_base64_encode, base64_decode = H.crypto_base64_decode, hex = H.crypto_hex,
      random_bytes = H.crypto_random_bytes, uuid = H.crypto_uuid,
    }
  end,
  state = function()
    local get = checked(H.state_get, "state.get")
    return {
      get = function(key)
        local v = get(key)
        if v == H.null then return nil end
        return v
      end,
      set = checked(H.state_set, "state.set"),
      delete = checked(H.state_delete, "state.delete"),
      incr = checked(H.state_incr, "state.incr"),
      compare_and_set = checked(H.state_compare_and_set, "state.compare_and_set"),
      keys = checked(H.state_keys, "state.keys"),
    }
  end,
  secret = function()
    local get = checked(H.secret_get, "secret.get")
    return {
      get = function(name)
        local v = get(name)
        if v == H.null then return nil end
        return v
      end,
    }
  end,
  yaml = function()
    return { encode = H.yaml_encode, decode = H.yaml_decode }
  end,
  template = function()
    return { render = H.template_render }
  end,
  exec = function()
    return { run = checked(H.exec_run, "exec.run") }
  end,
  http = function()
    local request = checked(H.http_request, "http")
    local function with(method, url, opts)
      local r = { method = method, url = url }
      if type(opts) == "table" then
        for k, v in next, opts do r[k] = v end
      elseif type(opts) == "string" then
        r.body = opts
      end
      return request(r)
    end
    return {
      request = request,
      get = function(url, opts) return with("GET", url, opts) end,
      post = function(url, opts) return with("POST", url, opts) end,
      put = function(url, opts) return with("PUT", url, opts) end,
      delete = function(url, opts) return with("DELETE", url, opts) end,
    }
  end,
  file = function()
    return {
      read = H.file_read, write = H.file_write, append = H.file_append, exists = H.file_exists,
      list = H.file_list, stat = H.file_stat, remove = H.file_remove, mkdir = H.file_mkdir,
    }
  end,
}
-- The specification's best practices say "use slog": the same module under that name.
modules.slog = modules.log
if H.testing_block then
  modules.testing = function()
    return { block = H.testing_block, wait = checked(H.testing_wait, "testing.wait"), signal = H.testing_signal }
  end
end
local module_names = {}
for name in next, modules do module_names[#module_names + 1] = name end
sort(module_names)
module_names = concat(module_names, ", ")

-- One metatable for every run's environment: globals not set by the run come from `base`.
local env_meta = { __index = base, __metatable = false }

local function new_env()
  local env = setmetatable({}, env_meta)
  rawset(env, "_G", env)
  rawset(env, "load", function(chunk, name, _, ...)
    local target = env
    if select("#", ...) > 0 then target = ... end
    return load(chunk, name, "t", target)
  end)
  local loaded
  rawset(env, "require", function(name)
    if type(name) ~= "string" then
      error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 2)
    end
    loaded = loaded or {}
    local m = loaded[name]
    if m == nil then
      local make = modules[name]
      if make == nil then error("module '" .. name .. "' not found; hooks can require: " .. module_names, 2) end
      m = make()
      loaded[name] = m
    end
    return m
  end)
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
