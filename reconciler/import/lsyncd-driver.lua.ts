// The Lua side of the lsyncd importer: runs an lsyncd config in a fresh environment whose globals are
// recorders, under an instruction budget, and returns everything recorded as one JSON string.
// Kept in Lua (not JS callbacks) so identity (`sync{ default.rsync, ... }`) and call-time snapshots are
// exact, and the JS side only ever receives plain data.
//
// Errors carry the chunk name "CONF"; the JS side replaces it with the real file name, because Lua
// truncates long chunk names in messages.

export const DRIVER = String.raw`
local src, budget, memoryMib, envText = __tsync_src, __tsync_budget, __tsync_memory_mib, __tsync_env
__tsync_src, __tsync_budget, __tsync_memory_mib, __tsync_env = nil, nil, nil, nil
local dbg = debug
local sfmt, ssub, sgsub, tconcat, tpack, tunpack = string.format, string.sub, string.gsub, table.concat, table.pack, table.unpack
local mtype, huge, gc, tsort, ipairs = math.type, math.huge, collectgarbage, table.sort, ipairs
local type, tostring, next, rawget, rawequal, error, pcall, xpcall, load, setmetatable =
      type, tostring, next, rawget, rawequal, error, pcall, xpcall, load, setmetatable
local cocreate, coresume = coroutine.create, coroutine.resume
local CHUNK = "=CONF"
local steps, exhausted, lastline = 0, false, 0
local fatal, notes, syncs, settingsCalls = {}, {}, {}, {}

local function curline(level)
  for l = level + 1, level + 30 do
    local i = dbg.getinfo(l, "Sl")
    if not i then break end
    if i.source == CHUNK and i.currentline and i.currentline > 0 then return i.currentline end
  end
  return lastline
end

local function hook()
  steps = steps + 1000
  local i = dbg.getinfo(2, "Sl")
  if i and i.source == CHUNK and i.currentline > 0 then lastline = i.currentline end
  if steps > budget then
    exhausted = true
    error("CONF:" .. lastline .. ": evaluation stopped after " .. budget .. " Lua steps (an endless loop?)", 0)
  end
end

-- A caught budget error must not let the config carry on.
local function rethrowIfExhausted(r)
  if exhausted then error(r[2], 0) end
  return tunpack(r, 1, r.n)
end

local ESC = {}
for c = 0, 31 do ESC[string.char(c)] = sfmt("\\u%04x", c) end
ESC['"'] = '\\"'; ESC["\\"] = "\\\\"; ESC[string.char(127)] = "\\u007f"
local function str(s) return '"' .. sgsub(s, '[%c"\\]', ESC) .. '"' end

local defaultNames = {}
local function enc(v, depth, seen)
  local tv = type(v)
  if tv == "string" then return str(v) end
  if tv == "boolean" then return tostring(v) end
  if tv == "number" then
    if v ~= v or v == huge or v == -huge then return '{"t":"opaque","type":"number"}' end
    if mtype(v) == "integer" then return sfmt("%d", v) end
    return sfmt("%.17g", v)
  end
  if tv == "function" then
    local i = dbg.getinfo(v, "S")
    return sfmt('{"t":"function","line":%d}', (i and i.linedefined > 0) and i.linedefined or 0)
  end
  if tv == "table" then
    local d = defaultNames[v]
    if d then return '{"t":"default","name":"' .. d .. '"}' end
    if seen[v] or depth > 16 then return '{"t":"opaque","type":"cycle"}' end
    seen[v] = true
    local arr, map, n = {}, {}, 1
    while rawget(v, n) ~= nil do arr[n] = enc(rawget(v, n), depth + 1, seen); n = n + 1 end
    -- Lua 5.4 seeds its string hashes per state: sort keys so the output is the same every run.
    local keys = {}
    for k in next, v do if type(k) == "string" then keys[#keys + 1] = k end end
    tsort(keys)
    for _, k in ipairs(keys) do map[#map + 1] = str(k) .. ":" .. enc(rawget(v, k), depth + 1, seen) end
    seen[v] = nil
    return '{"t":"table","arr":[' .. tconcat(arr, ",") .. '],"map":{' .. tconcat(map, ",") .. '}}'
  end
  return '{"t":"opaque","type":"' .. tv .. '"}'
end

local function record(list, level, value)
  list[#list + 1] = '{"line":' .. curline(level) .. ',"value":' .. enc(value, 0, {}) .. '}'
end

local function forbid(name)
  return function()
    local msg = "CONF:" .. curline(1) .. ": " .. name .. " is not allowed in an imported config"
    fatal[#fatal + 1] = str(msg)
    error(msg, 0)
  end
end

-- lsyncd's own functions the importer cannot run: say which one, not "attempt to call a nil value".
local function unsupported(name, what)
  return function()
    local msg = "CONF:" .. curline(1) .. ": " .. name .. " (the lsyncd built-in that " .. what .. ") is not supported by the importer"
    fatal[#fatal + 1] = str(msg)
    error(msg, 0)
  end
end

local function note(msg) notes[#notes + 1] = '{"line":' .. curline(2) .. ',"message":' .. str(msg) .. '}' end

-- NAME=VALUE lines, "%XX" escaping "%", "=", newline and NUL (see lsyncd-eval.ts).
local environ = {}
local function unescape(s) return (sgsub(s, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)) end
for k, v in string.gmatch(envText, "([^=\n]*)=([^\n]*)\n") do environ[unescape(k)] = unescape(v) end

local function copy(t, extra)
  local c = {}
  for k, v in next, t do c[k] = v end
  for k, v in next, extra or {} do c[k] = v end
  return c
end

local function guardedCreate(f)
  local co = cocreate(f)
  dbg.sethook(co, hook, "", 1000)
  return co
end
local function guardedResume(co, ...) return rethrowIfExhausted(tpack(coresume(co, ...))) end

local default = { rsync = {}, rsyncssh = {}, direct = {} }
for name, t in next, default do defaultNames[t] = name end

local settingsObj = setmetatable({}, {
  __call = function(_, t) record(settingsCalls, 1, t) end,
  __metatable = false,
})

local env = {
  settings = settingsObj,
  sync = function(t) record(syncs, 1, t) end,
  default = default,
  log = function() end, print = function() end,
  lsyncd = {
    log = function() end,
    readdir = unsupported("lsyncd.readdir", "lists a directory; the importer does no file I/O"),
    realdir = unsupported("lsyncd.realdir", "resolves a path on disk; the importer does no file I/O"),
    exec = unsupported("lsyncd.exec", "runs a program"),
    terminate = unsupported("lsyncd.terminate", "stops lsyncd"),
  },
  readdir = unsupported("readdir", "lists a directory; the importer does no file I/O"),
  spawn = unsupported("spawn", "runs a program"), spawnShell = unsupported("spawnShell", "runs a shell command"),
  terminate = unsupported("terminate", "stops lsyncd"), alarm = unsupported("alarm", "schedules a timer"),
  observefd = unsupported("observefd", "watches a file descriptor"), nonobservefd = unsupported("nonobservefd", "stops watching a file descriptor"),
  -- lsyncd opens Lua's package library; configs read and extend package.path before require (refused).
  package = { path = "/usr/share/lua/5.4/?.lua;./?.lua", cpath = "", config = "/\n;\n?\n!\n-\n", loaded = {}, preload = {} },
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, select = select,
  tonumber = tonumber, tostring = tostring, type = type, rawequal = rawequal, rawget = rawget,
  rawlen = rawlen, rawset = rawset, setmetatable = setmetatable, getmetatable = getmetatable,
  unpack = tunpack, _VERSION = _VERSION,
  pcall = function(...) return rethrowIfExhausted(tpack(pcall(...))) end,
  xpcall = function(...) return rethrowIfExhausted(tpack(xpcall(...))) end,
  string = copy(string, { dump = forbid("string.dump") }),
  table = copy(table), math = copy(math), utf8 = copy(utf8),
  coroutine = copy(coroutine, {
    create = guardedCreate, resume = guardedResume,
    wrap = function(f)
      local co = guardedCreate(f)
      return function(...)
        local r = tpack(guardedResume(co, ...))
        if not r[1] then error(r[2], 0) end
        return tunpack(r, 2, r.n)
      end
    end,
  }),
  os = {
    time = os.time, clock = os.clock, date = os.date, difftime = os.difftime,
    -- Read-only lookups in the environment tsync import runs in; lsyncd would see its own, so say so.
    getenv = function(name)
      local v = environ[tostring(name)]
      if v == nil then
        note("os.getenv('" .. tostring(name) .. "') is not set where tsync import runs; the config saw nil")
      else
        note("os.getenv('" .. tostring(name) .. "') was read from the environment tsync import runs in; lsyncd reads its own")
      end
      return v
    end,
    execute = forbid("os.execute"), remove = forbid("os.remove"), rename = forbid("os.rename"),
    exit = forbid("os.exit"), tmpname = forbid("os.tmpname"), setlocale = forbid("os.setlocale"),
  },
  io = setmetatable({}, { __index = function(_, k) return forbid("io." .. tostring(k)) end }),
  require = function(name)
    local msg = "CONF:" .. curline(1) .. ": require('" .. tostring(name) .. "') loads another file, which the importer does not do; paste that module into the config"
    fatal[#fatal + 1] = str(msg)
    error(msg, 0)
  end, dofile = forbid("dofile"), loadfile = forbid("loadfile"),
  load = forbid("load"), loadstring = forbid("loadstring"), collectgarbage = function() return 0 end,
}
env._G = env

local function result(errmsg)
  -- A config that fails after reading an unset variable (assert(os.getenv "X")) says which one.
  if errmsg then
    for _, n in ipairs(notes) do
      local var = string.match(n, "os%.getenv%('([^']*)'%) is not set")
      if var then errmsg = errmsg .. " (os.getenv('" .. var .. "') was not set when importing)"; break end
    end
  end
  local settingsAssigned = "null"
  if not rawequal(rawget(env, "settings"), settingsObj) then
    settingsAssigned = enc(rawget(env, "settings"), 0, {})
  elseif next(settingsObj) ~= nil then
    settingsAssigned = enc(settingsObj, 0, {})
  end
  return '{"error":' .. (errmsg and str(errmsg) or "null") ..
    ',"fatal":[' .. tconcat(fatal, ",") .. '],"notes":[' .. tconcat(notes, ",") ..
    '],"syncs":[' .. tconcat(syncs, ",") .. '],"settingsCalls":[' .. tconcat(settingsCalls, ",") ..
    '],"settingsAssigned":' .. settingsAssigned .. '}'
end

local chunk, lerr = load(src, CHUNK, "t", env)
if not chunk then return result(lerr) end
dbg.sethook(hook, "", 1000)
local ok, err = xpcall(chunk, function(m)
  if type(m) ~= "string" then m = "error object (" .. type(m) .. ")" end
  if ssub(m, 1, 5) ~= "CONF:" then m = "CONF:" .. curline(1) .. ": " .. m end
  return m
end)
dbg.sethook()
if ok then return result(nil) end
gc()
if err == "not enough memory" then err = "CONF:" .. (lastline > 0 and (lastline .. ":") or "") .. " memory limit exceeded (" .. memoryMib .. " MiB)" end
return result(tostring(err))
`;
