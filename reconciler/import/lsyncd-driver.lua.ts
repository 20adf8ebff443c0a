// The Lua side of the lsyncd importer: runs an lsyncd config in a fresh environment whose globals are
// recorders, under an instruction budget, and returns everything recorded as one JSON string.
// Kept in Lua (not JS callbacks) so identity (`sync{ default.rsync, ... }`) and call-time snapshots are
// exact, and the JS side only ever receives plain data. The one way back to JS is reading files
// (__tsync_read, __tsync_list: strings in, strings out; lsyncd-files.ts decides what may be read).
//
// Errors carry the chunk name "CONF"; the JS side replaces it with the real file name, because Lua
// truncates long chunk names in messages.

export const DRIVER = String.raw`
local src, budget, memoryMib, envText = __tsync_src, __tsync_budget, __tsync_memory_mib, __tsync_env
local hostRead, hostList, readBase = __tsync_read, __tsync_list, __tsync_base
__tsync_src, __tsync_budget, __tsync_memory_mib, __tsync_env = nil, nil, nil, nil
__tsync_read, __tsync_list, __tsync_base = nil, nil, nil
local dbg = debug
local sfmt, ssub, sgsub, tconcat, tpack, tunpack = string.format, string.sub, string.gsub, table.concat, table.pack, table.unpack
local mtype, huge, gc, tsort, ipairs = math.type, math.huge, collectgarbage, table.sort, ipairs
local type, tostring, next, rawget, rawequal, error, pcall, xpcall, load, setmetatable =
      type, tostring, next, rawget, rawequal, error, pcall, xpcall, load, setmetatable
local cocreate, coresume = coroutine.create, coroutine.resume
local CHUNK = "=CONF"
local steps, exhausted, lastline = 0, false, 0
local fatal, notes, syncs, settingsCalls = {}, {}, {}, {}
-- What a later error may be down to (an unset variable, a file not there): the first is added to it.
local hints = {}

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
    -- Lines only for functions in the config itself (one from a file it loaded has that file's lines).
    local own = i and i.source == CHUNK and i.linedefined > 0
    return sfmt('{"t":"function","line":%d,"last":%d}', own and i.linedefined or 0, own and i.lastlinedefined or 0)
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

local function refuse(msg)
  local m = "CONF:" .. curline(2) .. ": " .. msg
  fatal[#fatal + 1] = str(m)
  error(m, 0)
end

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

local pathFromEnv
local LUA_DEFAULT_PATH = "/usr/local/share/lua/5.4/?.lua;/usr/local/share/lua/5.4/?/init.lua;/usr/local/lib/lua/5.4/?.lua;/usr/local/lib/lua/5.4/?/init.lua;/usr/share/lua/5.4/?.lua;/usr/share/lua/5.4/?/init.lua;./?.lua;./?/init.lua"
do
  local fromEnv = environ["LUA_PATH_5_4"] or environ["LUA_PATH"]
  pathFromEnv = fromEnv and (environ["LUA_PATH_5_4"] and "LUA_PATH_5_4" or "LUA_PATH")
  if fromEnv then LUA_DEFAULT_PATH = (sgsub(fromEnv, ";;", ";" .. LUA_DEFAULT_PATH .. ";")) end
end

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
    realdir = unsupported("lsyncd.realdir", "resolves a path on disk; the importer does no file I/O"),
    exec = unsupported("lsyncd.exec", "runs a program"),
    terminate = unsupported("lsyncd.terminate", "stops lsyncd"),
  },
  spawn = unsupported("spawn", "runs a program"), spawnShell = unsupported("spawnShell", "runs a shell command"),
  terminate = unsupported("terminate", "stops lsyncd"), alarm = unsupported("alarm", "schedules a timer"),
  observefd = unsupported("observefd", "watches a file descriptor"), nonobservefd = unsupported("nonobservefd", "stops watching a file descriptor"),
  -- lsyncd opens Lua's package library (LUA_PATH sets package.path); configs extend it before require.
  package = { path = LUA_DEFAULT_PATH, cpath = "", config = "/\n;\n?\n!\n-\n", loaded = {}, preload = {} },
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
        hints[#hints + 1] = "os.getenv('" .. tostring(name) .. "') was not set when importing; pass --env " .. tostring(name) .. "=VALUE"
      else
        note("os.getenv('" .. tostring(name) .. "') was read from the environment tsync import runs in; lsyncd reads its own")
      end
      return v
    end,
    execute = forbid("os.execute"), remove = forbid("os.remove"), rename = forbid("os.rename"),
    exit = forbid("os.exit"), tmpname = forbid("os.tmpname"), setlocale = forbid("os.setlocale"),
  },
  load = forbid("load"), loadstring = forbid("loadstring"), collectgarbage = function() return 0 end,
}
env._G = env
-- Reading files, as lsyncd's Lua can while it loads the config: readdir, dofile, loadfile, require and
-- io.open/io.lines for reading. The host answers only below --base (lsyncd-files.ts); each read is a
-- warning, as lsyncd reads its own machine's files, and a missing file is a clear error at its line.
local function hostAnswer(fn, path)
  if not fn then return nil, "the importer was given no directory to read (--base)" end
  local a = fn(path)
  if ssub(a, 1, 1) == "+" then return ssub(a, 2) end
  return nil, ssub(a, 2)
end
local function readText(what, path)
  if type(path) ~= "string" then refuse(what .. " expects a file name, got " .. type(path)) end
  local text, why = hostAnswer(hostRead, path)
  if text then note(what .. "('" .. path .. "') read the file where tsync import runs; lsyncd reads its own at startup") end
  return text, why
end
local function loadText(text, path)
  -- Shown as "FILE:LINE:" in errors, after the line of the config that loaded it.
  local f, lerr = load(text, "=" .. path, "t", env)
  if not f then refuse(lerr) end
  return f
end

local function lsReaddir(path)
  if type(path) ~= "string" then refuse("readdir expects a directory name, got " .. type(path)) end
  local listing, why = hostAnswer(hostList, path)
  if not listing then
    -- lsyncd's readdir returns nothing for a directory it cannot open.
    note("readdir('" .. path .. "') found no directory (" .. why .. "); the config saw nil")
    hints[#hints + 1] = "readdir('" .. path .. "'): " .. why
    return nil
  end
  note("readdir('" .. path .. "') listed the directory where tsync import runs; lsyncd lists its own at startup")
  local t = {}
  for name, dir in string.gmatch(listing, "([^\t\n]*)\t([01])\n") do t[name] = dir == "1" end
  return t
end
env.readdir = lsReaddir
env.lsyncd.readdir = lsReaddir

env.loadfile = function(path, mode, fenv)
  if path == nil then return forbid("loadfile() from stdin")() end
  local text, why = readText("loadfile", path)
  if not text then return nil, path .. ": " .. why end
  local f, lerr = load(text, "=" .. path, "t", fenv or env)
  if not f then return nil, lerr end
  return f
end
env.dofile = function(path)
  if path == nil then return forbid("dofile() from stdin")() end
  local text, why = readText("dofile", path)
  if not text then refuse("dofile('" .. tostring(path) .. "'): " .. why) end
  return loadText(text, path)()
end
env.require = function(name)
  name = tostring(name)
  local pkg = env.package
  local loaded = type(pkg) == "table" and type(pkg.loaded) == "table" and pkg.loaded or {}
  if loaded[name] ~= nil then return loaded[name] end
  local preload = type(pkg) == "table" and type(pkg.preload) == "table" and pkg.preload[name]
  if preload then
    local r = preload(name, ":preload:")
    if r == nil then r = true end
    loaded[name] = r
    return r
  end
  local tried = {}
  local searchPath = type(pkg) == "table" and type(pkg.path) == "string" and pkg.path or LUA_DEFAULT_PATH
  for template in string.gmatch(searchPath, "[^;]+") do
    local file = (sgsub(template, "%?", (sgsub(name, "%.", "/"))))
    local text = hostAnswer(hostRead, file)
    if text then
      note("require('" .. name .. "') read " .. file .. " where tsync import runs" ..
        (pathFromEnv and (" (package.path from " .. pathFromEnv .. ")") or "") .. "; lsyncd reads its own at startup")
      local r = loadText(text, file)(name, file)
      if r == nil then r = true end
      loaded[name] = r
      return r
    end
    tried[#tried + 1] = file
  end
  -- Name the paths below --base (where the module would have to be); the system's Lua paths only by count.
  local below, outside = {}, 0
  for _, f in ipairs(tried) do
    if readBase and (ssub(f, 1, 1) ~= "/" or ssub(f, 1, #readBase + 1) == readBase .. "/") then below[#below + 1] = f else outside = outside + 1 end
  end
  refuse("require('" .. name .. "') found no file where tsync import runs (package.path gives " ..
    (#below > 0 and tconcat(below, ", ") or "nothing") .. (readBase and (" below --base " .. readBase) or "") ..
    (outside > 0 and (", and " .. outside .. " path(s) outside it, which the importer does not read") or "") .. ")")
end

-- A read-only file object: what configs do with io.open(path):read("*a") and io.lines(path).
local function fileObject(text)
  local pos, closed = 1, false
  local obj = {}
  local function readOne(fmt)
    if type(fmt) == "number" then
      if pos > #text then return nil end
      local s = ssub(text, pos, pos + fmt - 1); pos = pos + #s; return s
    end
    fmt = sgsub(tostring(fmt or "l"), "^%*", "")
    local c = ssub(fmt, 1, 1)
    if c == "a" then local s = ssub(text, pos); pos = #text + 1; return s end
    if pos > #text then return nil end
    if c == "l" or c == "L" then
      local nl = string.find(text, "\n", pos, true)
      local stop = nl or #text
      local s = ssub(text, pos, c == "L" and stop or (nl and nl - 1 or stop)); pos = stop + 1; return s
    end
    if c == "n" then
      local s, e = string.find(text, "^%s*[-+]?[%d%.xXa-fA-FeEpP]+", pos)
      if not s then return nil end
      pos = e + 1; return tonumber(ssub(text, s, e))
    end
    error("bad argument #1 to 'read' (invalid format)", 2)
  end
  function obj.read(self, ...)
    if closed then error("attempt to use a closed file", 2) end
    local n = select("#", ...)
    if n == 0 then return readOne("l") end
    local out = {}
    for i = 1, n do out[i] = readOne((select(i, ...))); if out[i] == nil then return tunpack(out, 1, i) end end
    return tunpack(out, 1, n)
  end
  function obj.lines(self, ...)
    local fmts = tpack(...)
    return function() return obj.read(self, tunpack(fmts, 1, fmts.n)) end
  end
  function obj.close() closed = true; return true end
  function obj.seek(self, whence, off)
    whence, off = whence or "cur", off or 0
    local b = whence == "set" and 1 or whence == "end" and #text + 1 or pos
    pos = math.max(1, b + off); return pos - 1
  end
  obj.write = forbid("writing a file")
  obj.flush, obj.setvbuf = function() return obj end, function() return true end
  return setmetatable(obj, { __index = function(_, k) return forbid("file:" .. tostring(k)) end, __name = "FILE*" })
end
env.io = setmetatable({
  open = function(path, mode)
    mode = mode or "r"
    if mode ~= "r" and mode ~= "rb" then
      return forbid("io.open(..., '" .. tostring(mode) .. "') (writing a file)")()
    end
    local text, why = readText("io.open", path)
    if not text then
      hints[#hints + 1] = "io.open('" .. tostring(path) .. "'): " .. why
      return nil, tostring(path) .. ": " .. why, 2
    end
    return fileObject(text)
  end,
  lines = function(path, ...)
    if path == nil then return forbid("io.lines() from stdin")() end
    local text, why = readText("io.lines", path)
    if not text then refuse("io.lines('" .. tostring(path) .. "'): " .. why) end
    local f = fileObject(text)
    return f:lines(...)
  end,
  close = function(f) if f then return f:close() end return true end,
}, { __index = function(_, k) return forbid("io." .. tostring(k)) end })

local function result(errmsg, limit)
  -- A config that fails after reading an unset variable (assert(os.getenv "X")) or a missing file says which.
  if errmsg and hints[1] then errmsg = errmsg .. " (" .. hints[1] .. ")" end
  local settingsAssigned = "null"
  if not rawequal(rawget(env, "settings"), settingsObj) then
    settingsAssigned = enc(rawget(env, "settings"), 0, {})
  elseif next(settingsObj) ~= nil then
    settingsAssigned = enc(settingsObj, 0, {})
  end
  return '{"error":' .. (errmsg and str(errmsg) or "null") ..
    ',"fatal":[' .. tconcat(fatal, ",") .. '],"notes":[' .. tconcat(notes, ",") ..
    '],"syncs":[' .. tconcat(syncs, ",") .. '],"settingsCalls":[' .. tconcat(settingsCalls, ",") ..
    '],"settingsAssigned":' .. settingsAssigned .. ',"limit":' .. (limit and str(limit) or "null") .. '}'
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
local limit = exhausted and "steps" or nil
if err == "not enough memory" then
  limit = "memory"
  err = "CONF:" .. (lastline > 0 and (lastline .. ":") or "") .. " memory limit exceeded (" .. memoryMib .. " MiB)"
end
return result(tostring(err), limit)
`;
