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
-- A test case may fix the clock (`mocks.clock`): time() and date() without a time read it.
local os_time, os_date, clock_now = G.os.time, G.os.date, H.clock_now
base.os = readonly("os", {
  time = function(t) if t == nil then local fixed = clock_now() if fixed then return fixed end end return os_time(t) end,
  date = function(format, t) if t == nil then t = clock_now() end return os_date(format, t) end,
  clock = G.os.clock, difftime = G.os.difftime })

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

-- `file_ops`: the reference's Ansible-like file operations, with its calling convention:
-- `true, {changed = ..., ...}` on success, `nil, message` on failure. Built on `file` (so the
-- hook's `file` permissions apply to every path it touches), `template` and, for unarchive,
-- `exec` (tar, unzip). Patterns (`regexp`, `pattern`) are Lua patterns.
modules.file_ops = function()
  local F, T, X = modules.file(), modules.template(), modules.exec()
  local function need(o, k)
    local v = o[k]
    if v == nil or v == "" then error(k .. " parameter is required", 0) end
    return tostring(v)
  end
  local function op(f)
    return function(o)
      if type(o) ~= "table" then return nil, "expected a table of options" end
      local ok, a, b = pcall(f, o)
      if not ok then return nil, (tostring(a):gsub("^[^:]*:%d+: ", "")) end
      return a, b
    end
  end
  local function parent(path) return path:match("^(.*)/[^/]*$") end
  local function ensure_parent(path)
    local dir = parent(path)
    if dir and dir ~= "" and not F.exists(dir) then F.mkdir(dir) end
  end
  local function lines_of(path)
    local out = {}
    if not F.exists(path) then return out end
    for l in (F.read(path) .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
    return out
  end
  local function write_if_changed(path, text)
    if F.exists(path) and F.read(path) == text then return false end
    ensure_parent(path)
    F.write(path, text)
    return true
  end
  local function matches(l, pattern) return pattern ~= nil and pattern ~= "" and l:find(pattern) ~= nil end
  local ops = {}
  ops.lineinfile = op(function(o)
    local path, line = need(o, "path"), need(o, "line")
    local state, re = o.state or "present", o.regexp
    if state ~= "present" and state ~= "absent" then error("state must be present or absent, not " .. tostring(state), 0) end
    local lines, out, found = lines_of(path), {}, false
    for _, l in ipairs(lines) do
      if matches(l, re) or l == line then
        if state == "present" then
          out[#out + 1] = line
          found = true
        end
      else
        out[#out + 1] = l
      end
    end
    if state == "present" and not found then
      -- Before a final empty line (the file's trailing newline), as a line of its own.
      if #out > 0 and out[#out] == "" then table.insert(out, #out, line) else out[#out + 1] = line end
    end
    local text = table.concat(out, "\n")
    local changed = (#lines > 0 or state == "present") and write_if_changed(path, text) or false
    return true, { changed = changed, path = path }
  end)
  ops.blockinfile = op(function(o)
    local path = need(o, "path")
    local state = o.state or "present"
    local block = o.block
    if (block == nil or block == "") and state ~= "absent" then error("block parameter is required when state is present", 0) end
    local first, last = o.marker_begin or "# BEGIN MANAGED BLOCK", o.marker_end or "# END MANAGED BLOCK"
    local lines, b, e = lines_of(path), nil, nil
    for i, l in ipairs(lines) do
      if b == nil and l:find(first, 1, true) then b = i end
      if b ~= nil and l:find(last, 1, true) then e = i end
    end
    local out = {}
    if b and e then
      for i = 1, b - 1 do out[#out + 1] = lines[i] end
      if state == "present" then
        out[#out + 1] = first
        for l in (block .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
        out[#out + 1] = last
      end
      for i = e + 1, #lines do out[#out + 1] = lines[i] end
    else
      if state == "absent" then return true, { changed = false, path = path } end
      for _, l in ipairs(lines) do out[#out + 1] = l end
      if #out > 0 and out[#out] == "" then out[#out] = nil end
      out[#out + 1] = first
      for l in (block .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
      out[#out + 1] = last
      out[#out + 1] = ""
    end
    return true, { changed = write_if_changed(path, table.concat(out, "\n")), path = path }
  end)
  ops.replace = op(function(o)
    local path, pattern = need(o, "path"), need(o, "pattern")
    if o.replacement == nil then error("replacement parameter is required", 0) end
    local text = F.read(path)
    local new = text:gsub(pattern, (tostring(o.replacement):gsub("%%([^%d%%])", "%%%%%1")))
    return true, { changed = write_if_changed(path, new), path = path }
  end)
  local function copy(o, always)
    local src, dest = need(o, "src"), need(o, "dest")
    if o.mode ~= nil then error("mode is not supported: the file module sets no permissions", 0) end
    if not F.exists(src) then error("source file not found: " .. src, 0) end
    local content = F.read(src)
    local changed = write_if_changed(dest, content)
    return true, { changed = changed or always, src = src, dest = dest, size = #content }
  end
  ops.copy = op(function(o) return copy(o, false) end)
  ops.fetch = op(function(o) return copy(o, false) end)
  ops.template = op(function(o)
    local src, dest = need(o, "src"), need(o, "dest")
    -- The reference's Go templates write `{{ .name }}`; ours are Mustache (`{{name}}`).
    local text = F.read(src):gsub("{{%s*%.([%w_%.]+)%s*}}", "{{%1}}")
    local rendered = T.render(text, type(o.vars) == "table" and o.vars or {})
    return true, { changed = write_if_changed(dest, rendered), src = src, dest = dest }
  end)
  ops.unarchive = op(function(o)
    local src, dest = need(o, "src"), need(o, "dest")
    if not F.exists(src) then error("archive not found: " .. src, 0) end
    if not F.exists(dest) then F.mkdir(dest) end
    local argv
    if src:match("%.zip$") then argv = { "unzip", "-o", "-q", src, "-d", dest }
    elseif src:match("%.tar%.gz$") or src:match("%.tgz$") or src:match("%.gz$") then argv = { "tar", "-xzf", src, "-C", dest }
    elseif src:match("%.tar$") then argv = { "tar", "-xf", src, "-C", dest }
    else error("unsupported archive format: " .. src .. " (zip, tar, tar.gz, tgz)", 0) end
    local r = X.run(argv)
    if r.exit_code ~= 0 then error("failed to extract: " .. (r.stderr ~= "" and r.stderr or ("exit " .. r.exit_code)), 0) end
    return true, { changed = true, src = src, dest = dest }
  end)
  ops.stat = function(o)
    if type(o) ~= "table" or o.path == nil or o.path == "" then return nil, "path parameter is required" end
    local present, there = pcall(F.exists, o.path)
    if not present then return nil, (tostring(there):gsub("^[^:]*:%d+: ", "")) end
    if not there then return { exists = false } end
    local ok, st = pcall(F.stat, o.path)
    if not ok then return nil, (tostring(st):gsub("^[^:]*:%d+: ", "")) end
    if st == nil then return { exists = false } end
    local checksum = st.is_file and modules.crypto().sha256(F.read(o.path)) or nil
    return { exists = true, path = o.path, size = st.size, mode = st.mode, is_dir = st.is_dir, is_file = st.is_file,
             mtime = st.modified, checksum = checksum }
  end
  return ops
end

-- The globals the reference injects into every hook: `log`, `http`, `file_ops` and
-- `contains(list, value)`. Read-only (one table serves every run), and shadowed by a hook's
-- own global of the same name.
base.log = readonly("log", modules.log())
base.http = readonly("http", modules.http())
base.file_ops = readonly("file_ops", modules.file_ops())
base.contains = function(list, value)
  if type(list) ~= "table" then error("bad argument #1 to 'contains' (table expected, got " .. type(list) .. ")", 2) end
  local want = tostring(value)
  for _, v in pairs(list) do
    if tostring(v) == want then return true end
  end
  return false
end
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

-- The reference's shortcuts: `event.agent` and `event.task` for `event.data.agent` / `.task`.
local function shortcuts(event)
  if type(event) ~= "table" then return end
  local data = rawget(event, "data")
  if type(data) ~= "table" then return end
  for _, k in next, { "agent", "task" } do
    if rawget(event, k) == nil and type(rawget(data, k)) == "table" then rawset(event, k, rawget(data, k)) end
  end
end

local function run(chunk, event)
  local env, hook = load_hook(chunk)
  shortcuts(event)
  if hook then return rawget(hook, "execute")(event) end
  -- The global form is the reference's: its `event.timestamp` is in Unix seconds, so
  -- `os.date(fmt, event.timestamp)` works as its examples use it (the returned-table form
  -- keeps milliseconds; `event.timestamp_ms` has them here).
  local ts = rawget(event, "timestamp")
  if G.math.type(ts) == "integer" then
    rawset(event, "timestamp_ms", ts)
    rawset(event, "timestamp", ts // 1000)
  end
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
