-- _lib.lua — helpers shared by every routing script. Not a script of its own: the loader
-- (routing/_scripts.py) puts this text in front of each script file before register_script,
-- so every registered script is one self-contained, atomic EVALSHA.
--
-- Calling convention of every script:
--   KEYS[1]  <P>:agents — the prefix P (with its hash tag, e.g. "{cs}") is derived from it
--   KEYS[2]  <P>:config:<sha1> — the routing configuration, stored once by the caller under
--            the SHA-1 of its text: a hash of small JSON texts — "base" (timeouts), "names"
--            ([[topic, relaxes-to-any-agent]…]) and "t:<topic>" (levels and steps), so a call
--            decodes only what it uses. Missing (Redis lost its data): the script stops with
--            a NOCONFIG error before writing anything, and the caller stores it and retries.
--   KEYS[3…] the keys the call names up front (agent, conversation, offer, queue …)
--   ARGV[1]  now, integer milliseconds
--   ARGV[2]  a token unique to the call (offer ids made by the call are "<token>-<n>")
--   ARGV[3]  the calling hub node id
--   ARGV[4…] the operation's own arguments
-- Keys discovered while the script runs (another agent's hash, a waiting conversation …) are
-- built from the same prefix, so they carry the same hash tag and hash to the same cluster slot.
--
-- Key layout (P = prefix):
--   P:agents              set   every known agent id
--   P:free                set   online agents with load < capacity
--   P:away                set   agents away
--   P:skill:<skill>       set   agents having <skill> at level >= 1
--   P:on:<skill>          set   online agents having <skill>; P:on:* every online agent
--   P:sk                  hash  cap:<skill> load:<skill> — summed over P:on:<skill> (and *)
--   P:agent:<id>          hash  status node capacity load idle streak s:<skill>=<level>,
--                               sks (its skill names) and cls (the classes it qualifies for)
--   P:agent:<id>:active   set   conversations the agent holds
--   P:agent:<id>:offers   set   open offers reserved on the agent
--   P:agent:<id>:pref     set   waiting conversations naming the agent preferred, in the window
--   P:convs               set   live conversation ids
--   P:conv:<id>           hash  topic lang prio arrived state meta, and as they apply: agent
--                               offer pref avoid cool step cls accepted
--   P:waiting             zset  waiting conversations, score = -prio * 2^42 + arrived_ms
--   P:q:<topic>           zset  the same per topic: position = ZRANK + 1
--   P:qa:<topic>          zset  the same per topic, scored by arrival (longest wait)
--   P:heads               hash  topic -> the conversation last announced first of its queue
--   P:due                 zset  waiting conversation -> when its eligibility next widens
--                               (relaxation step, end of preferred window, end of a cooldown)
--   P:coolers             set   waiting conversations with a cooldown on some agent
--   P:offer:<id>          hash  conv agent deadline state ended (kept 1 h once closed)
--   P:offers_due          zset  open offer -> deadline
--   P:nodes               zset  hub node -> last heartbeat
--   P:node:<node>:agents  set   agents whose socket that node holds
--   P:orphans             zset  active conversation of an offline agent -> when it is requeued
--   P:ht:<topic>          list  last 50 handle times (ms), newest first
--   P:explain:<id>        list  last 20 decision records (JSON), oldest first
--   P:stats               hash  counters
--   P:config:<sha1>       hash  a routing configuration, one per distinct configuration
--   P:events              pub/sub channel (not a key)
--
-- Requirement classes. What a conversation requires at its step in force is a class
-- "<topic>|<topic level>|<language>|<language level>" (topic "*" when the topic level is 0,
-- language "*" when the language level is 0), e.g. "billing|2|es|1" or "*|0|es|1". The
-- configuration lists its classes (every topic x step x language); each one is indexed:
--   P:classes             set   every indexed class
--   P:co:<class>          set   online agents whose skills meet the class
--   P:cf:<class>          zset  the same with room (load < capacity), score =
--                               floor(load * 2^32 / capacity), member = "<idle ms, 15
--                               digits>:<agent id>": the first member is rule 2's choice
--   P:ccap                hash  class -> summed capacity of P:co:<class> (wait estimates)
--   P:cw:<class>          zset  waiting conversations requiring exactly the class, by score
-- So a decision reads the head of one sorted set, and a freed agent reads the head of the
-- waiting set of each class it qualifies for: neither walks the floor nor the queue.

local L = {}
local TWO42 = 4398046511104
local TWO32 = 4294967296
local EXPLAIN_KEEP = 20
local CANDIDATES_KEEP = 10
local TOMBSTONE_MS = 3600000
local EXPLAIN_TTL_MS = 86400000
local BATCH = 100

function L.init(keys, argv)
  local anchor = keys[1]
  L.P = string.sub(anchor, 1, #anchor - 7)
  L.now = tonumber(argv[1])
  L.ts = L.now / 1000
  local base = redis.call('HGET', keys[2], 'base')
  if not base then return error('NOCONFIG routing configuration ' .. keys[2] .. ' missing') end
  -- Decoded on first use: many calls (accept, release …) never need it.
  L.cfg_key = keys[2]
  L.cfg = setmetatable({}, {__index = function(t, key)
    setmetatable(t, nil)
    for k, v in pairs(cjson.decode(base)) do rawset(t, k, v) end
    return rawget(t, key)
  end})
  L.topics = {}
  L.names = nil
  L.token = argv[2]
  L.node = argv[3]
  L.seq = 0
  L.A = {}
  L.C = {}
  L.offers = {}
  L.dirty = {}
  L.freed = {}
  L.freed_list = {}
  L.changed = {}
  L.changed_list = {}
  L.advanced = false
  L.is_ready = false
  L.built = {}
  L.class_list = nil
end

function L.k(a, b, c)
  if c then return L.P .. ':' .. a .. ':' .. b .. ':' .. c end
  if b then return L.P .. ':' .. a .. ':' .. b end
  return L.P .. ':' .. a
end

function L.publish(ev)
  ev.ts = L.ts
  redis.call('PUBLISH', L.P .. ':events', cjson.encode(ev))
end

function L.nul(v)
  if v == nil or v == '' then return cjson.null end
  return v
end

function L.stat(name, n)
  redis.call('HINCRBY', L.k('stats'), name, n or 1)
end

function L.fmt(n)
  return string.format('%.0f', n)
end

-- Requirement classes -----------------------------------------------------------------------

function L.class(topic, tl, lang, ll)
  if tl == 0 then topic = '*' end
  if ll == 0 then lang = '*' end
  return topic .. '|' .. tl .. '|' .. lang .. '|' .. ll
end

local function class_parts(K)
  local t, tl, g, ll = string.match(K, '^([^|]*)|(%d)|([^|]*)|(%d)$')
  return t, tonumber(tl), g, tonumber(ll)
end

-- Rule 2's order as one sorted-set position: the score orders by load ratio (equal ratios give
-- equal scores: the quotient is exact below 2^53, and two different ratios of capacities up to
-- 1000 differ by more than 2^-20), the member by idle since, then agent id.
function L.rscore(load, capacity)
  return L.fmt(math.floor(load * TWO32 / capacity))
end

function L.member(idle, id)
  return string.format('%015.0f', idle) .. ':' .. id
end

local function member_id(m)
  return string.sub(m, 17)
end

-- Does the agent's skill set meet the class (status and room aside)? Needs every skill loaded.
function L.meets(a, K)
  local t, tl, g, ll = class_parts(K)
  if tl > 0 then
    local v = L.skill(a, t)
    if not v or v < tl then return false end
  end
  if ll > 0 then
    local v = L.skill(a, g)
    if not v or v < ll then return false end
  end
  return true
end

-- Index a class that is not indexed yet: every known agent meeting it, as the indexes stand
-- (a.ix). Walks every agent once per new class — after a configuration change, not per call.
function L.ensure(K)
  if L.built[K] then return end
  L.built[K] = true
  if redis.call('SISMEMBER', L.k('classes'), K) == 1 then return end
  redis.call('SADD', L.k('classes'), K)
  if L.class_list then L.class_list[#L.class_list + 1] = K end
  for _, id in ipairs(redis.call('SMEMBERS', L.k('agents'))) do
    local a = L.agent(id)
    if a and L.meets(a, K) then
      local ix = a.ix
      if ix.on then
        redis.call('SADD', L.k('co', K), id)
        redis.call('HINCRBY', L.k('ccap'), K, ix.cap)
        if ix.load < ix.cap then
          redis.call('ZADD', L.k('cf', K), L.rscore(ix.load, ix.cap), L.member(ix.idle, id))
        end
      end
      if a.cls == '' then a.cls = K else a.cls = a.cls .. ' ' .. K end
      if ix.cls == '' then ix.cls = K else ix.cls = ix.cls .. ' ' .. K end
      redis.call('HSET', L.k('agent', id), 'cls', ix.cls)
    end
  end
end

-- State written before the class indexes existed (or after they were lost): per-skill online
-- sets and sums for every agent, and every waiting conversation filed by arrival and class.
-- Runs once, when no class is indexed yet; on an empty Redis it finds nothing to do.
function L.migrate()
  for _, id in ipairs(redis.call('SMEMBERS', L.k('agents'))) do
    local a = L.agent(id)
    if a then
      local names = {}
      for s in pairs(a.s) do names[#names + 1] = s end
      table.sort(names)
      a.sks = table.concat(names, ' ')
      a.cls = ''
      redis.call('HSET', L.k('agent', id), 'sks', a.sks, 'cls', '')
      a.ix = {on = false, away = false, load = a.load, cap = a.capacity, idle = a.idle, cls = '',
        sks = a.sks}
      L.sync(a)
    end
  end
  for _, id in ipairs(redis.call('ZRANGE', L.k('waiting'), 0, -1)) do
    local c = L.conv(id)
    if c and c.state == 'waiting' then
      redis.call('ZADD', L.k('qa', c.topic), L.fmt(c.arrived), c.id)
      c.cls = ''
      L.place(c)
      L.schedule(c)
    end
  end
end

-- Every class of the configuration in force is indexed (once per configuration).
function L.ready()
  if L.is_ready then return end
  L.is_ready = true
  if redis.call('HEXISTS', L.cfg_key, 'ready') == 1 then return end
  if redis.call('EXISTS', L.k('classes')) == 0 then L.migrate() end
  for _, K in ipairs(cjson.decode(redis.call('HGET', L.cfg_key, 'classes') or '[]')) do
    L.ensure(K)
  end
  redis.call('HSET', L.cfg_key, 'ready', '1')
end

-- The classes an agent's skills meet, as the space-separated text stored in its hash.
function L.classes_of(a)
  L.ready()
  if not L.class_list then L.class_list = redis.call('SMEMBERS', L.k('classes')) end
  local out = {}
  for _, K in ipairs(L.class_list) do
    if L.meets(a, K) then out[#out + 1] = K end
  end
  table.sort(out)
  return table.concat(out, ' ')
end

-- Agents ------------------------------------------------------------------------------------

-- What the indexes hold for an agent read from Redis: its stored state (they agree after
-- every call). L.sync brings the indexes from a.ix to the agent's current fields.
local function indexed(a)
  a.ix = {on = a.status == 'online', away = a.status == 'away', load = a.load, cap = a.capacity,
    idle = a.idle, cls = a.cls, sks = a.sks}
end

-- An agent with all its skills (a.s), cached for the rest of the call; nil if unknown.
function L.agent(id)
  local a = L.A[id]
  if a == false then return nil end
  if a and a.full then return a end
  local h = redis.call('HGETALL', L.k('agent', id))
  if #h == 0 then
    L.A[id] = false
    return nil
  end
  local fresh = a == nil
  a = a or {id = id}
  a.s = {}
  local f = {}
  for i = 1, #h, 2 do
    local name = h[i]
    if string.byte(name, 1) == 115 and string.byte(name, 2) == 58 then -- "s:<skill>"
      a.s[string.sub(name, 3)] = tonumber(h[i + 1])
    else
      f[name] = h[i + 1]
    end
  end
  a.full = true
  if fresh then
    a.status = f.status
    a.capacity = tonumber(f.capacity)
    a.load = tonumber(f.load)
    a.idle = tonumber(f.idle)
    a.streak = tonumber(f.streak or '0')
    a.node = f.node or ''
    a.cls = f.cls or ''
    a.sks = f.sks or ''
    indexed(a)
    L.A[id] = a
  end
  return a
end

-- An agent with only two skills loaded (cheaper when judging candidates); any other skill is
-- fetched on demand by L.skill. (a.s[skill] is false for a skill known to be missing.)
function L.agent_for(id, s1, s2)
  local a = L.A[id]
  if a ~= nil then
    if a then return a end
    return nil
  end
  local h = redis.call('HMGET', L.P .. ':agent:' .. id, 'status', 'capacity', 'load', 'idle',
    'node', 'streak', 'cls', 'sks', 's:' .. s1, 's:' .. s2)
  if not h[1] then
    L.A[id] = false
    return nil
  end
  a = {id = id, status = h[1], capacity = tonumber(h[2]), load = tonumber(h[3]),
    idle = tonumber(h[4]), node = h[5] or '', streak = tonumber(h[6] or '0'), cls = h[7] or '',
    sks = h[8] or '', s = {[s1] = tonumber(h[9] or '') or false, [s2] = tonumber(h[10] or '') or false}}
  indexed(a)
  L.A[id] = a
  return a
end

function L.skill(a, name)
  local v = a.s[name]
  if v ~= nil then return v or nil end
  if a.full then return nil end
  v = redis.call('HGET', L.k('agent', a.id), 's:' .. name)
  a.s[name] = tonumber(v or '') or false
  return a.s[name] or nil
end

-- HSET on the agent hash and in the cache: L.aset(a, field, value, field, value …)
function L.aset(a, ...)
  local args = {...}
  for i = 1, #args, 2 do a[args[i]] = args[i + 1] end
  redis.call('HSET', L.k('agent', a.id), ...)
end

function L.new_agent(id)
  redis.call('HSET', L.k('agent', id), 'status', 'offline', 'node', '', 'capacity', 0,
    'load', 0, 'idle', L.fmt(L.now), 'streak', 0, 'cls', '', 'sks', '')
  redis.call('SADD', L.k('agents'), id)
  local a = {id = id, status = 'offline', node = '', capacity = 0, load = 0, idle = L.now,
    streak = 0, s = {}, full = true, cls = '', sks = ''}
  indexed(a)
  L.A[id] = a
  return a
end

local function words(text, out, value)
  for w in string.gmatch(text, '%S+') do out[w] = value end
  return out
end

-- One class index entry of an agent, from (was_on, was_free, old member) to (on, free, new).
local function index_class(K, id, o, n)
  local cf = L.k('cf', K)
  if o.free and (not n.free or o.m ~= n.m) then redis.call('ZREM', cf, o.m) end
  if n.free and not (o.free and o.m == n.m and o.score == n.score) then
    redis.call('ZADD', cf, n.score, n.m)
  end
  if o.on ~= n.on then
    if n.on then
      redis.call('SADD', L.k('co', K), id)
    else
      redis.call('SREM', L.k('co', K), id)
    end
  end
  local d = n.cap - o.cap
  if d ~= 0 then redis.call('HINCRBY', L.k('ccap'), K, d) end
end

-- Bring every index of the agent from what it holds (a.ix) to the agent's current state:
-- P:free, P:away, P:on:<skill> and the P:sk sums, and each class's P:co / P:cf / P:ccap.
-- Called after every change of status, load, capacity, idle time or skills.
function L.sync(a)
  L.ready() -- indexes from before the classes are built first, from the stored state
  local ix = a.ix
  local on = a.status == 'online'
  local away = a.status == 'away'
  if on == ix.on and away == ix.away and a.load == ix.load and a.capacity == ix.cap
    and a.idle == ix.idle and a.cls == ix.cls and a.sks == ix.sks then return end
  local id = a.id
  local free, was_free = on and a.load < a.capacity, ix.on and ix.load < ix.cap
  if free ~= was_free then
    if free then redis.call('SADD', L.k('free'), id) else redis.call('SREM', L.k('free'), id) end
  end
  if away ~= ix.away then
    if away then redis.call('SADD', L.k('away'), id) else redis.call('SREM', L.k('away'), id) end
  end
  local o = {on = ix.on, free = was_free, m = L.member(ix.idle, id), cap = 0}
  if was_free then o.score = L.rscore(ix.load, ix.cap) end
  if ix.on then o.cap = ix.cap end
  local n = {on = on, free = free, m = L.member(a.idle, id), cap = 0}
  if free then n.score = L.rscore(a.load, a.capacity) end
  if on then n.cap = a.capacity end
  if a.cls == ix.cls then
    for K in string.gmatch(a.cls, '%S+') do index_class(K, id, o, n) end
  else
    local off = {on = false, free = false, m = n.m, cap = 0}
    local gone = {on = false, free = false, m = o.m, cap = 0}
    local old, new = words(ix.cls, {}, true), words(a.cls, {}, true)
    for K in pairs(old) do
      if new[K] then index_class(K, id, o, n) else index_class(K, id, o, gone) end
    end
    for K in pairs(new) do
      if not old[K] then index_class(K, id, off, n) end
    end
  end
  -- per skill (and '*': everyone): who is online, their summed capacity and load
  local old = {}
  if ix.on then words(ix.sks .. ' *', old, true) end
  local new = {}
  if on then words(a.sks .. ' *', new, true) end
  local sk = L.k('sk')
  for s in pairs(old) do
    if new[s] then
      if a.capacity ~= ix.cap then redis.call('HINCRBY', sk, 'cap:' .. s, a.capacity - ix.cap) end
      if a.load ~= ix.load then redis.call('HINCRBY', sk, 'load:' .. s, a.load - ix.load) end
    else
      redis.call('SREM', L.k('on', s), id)
      redis.call('HINCRBY', sk, 'cap:' .. s, 0 - ix.cap)
      redis.call('HINCRBY', sk, 'load:' .. s, 0 - ix.load)
    end
  end
  for s in pairs(new) do
    if not old[s] then
      redis.call('SADD', L.k('on', s), id)
      redis.call('HINCRBY', sk, 'cap:' .. s, a.capacity)
      redis.call('HINCRBY', sk, 'load:' .. s, a.load)
    end
  end
  indexed(a)
end

function L.mark_freed(a)
  if not L.freed[a.id] then
    L.freed[a.id] = true
    L.freed_list[#L.freed_list + 1] = a.id
  end
end

-- An agent left (away, offline) or lost skills: conversations it was the preferred agent of,
-- and conversations with cooldowns it may have kept closed to cooling agents, are judged again.
function L.widen_for(a)
  for _, cid in ipairs(redis.call('SMEMBERS', L.k('agent', a.id, 'pref'))) do
    local c = L.conv(cid)
    if c and c.state == 'waiting' then L.change(c, true) end
  end
  for _, cid in ipairs(redis.call('SMEMBERS', L.k('coolers'))) do
    local c = L.conv(cid)
    if c and c.state == 'waiting' then L.change(c, true) end
  end
end

-- Conversations -----------------------------------------------------------------------------

function L.conv(id)
  local c = L.C[id]
  if c ~= nil then
    if c then return c end
    return nil
  end
  local h = redis.call('HGETALL', L.k('conv', id))
  if #h == 0 then
    L.C[id] = false
    return nil
  end
  c = {id = id}
  for i = 1, #h, 2 do c[h[i]] = h[i + 1] end
  c.prio = tonumber(c.prio)
  c.arrived = tonumber(c.arrived)
  c.score = -c.prio * TWO42 + c.arrived
  c.step = tonumber(c.step or '0')
  c.agent = c.agent or ''
  c.offer = c.offer or ''
  c.pref = c.pref or ''
  c.meta = c.meta or '{}'
  c.cls = c.cls or ''
  c.avoidset = {}
  if c.avoid and c.avoid ~= '[]' then
    for _, x in ipairs(cjson.decode(c.avoid)) do c.avoidset[x] = true end
  end
  if c.cool and c.cool ~= '{}' then c.coolmap = cjson.decode(c.cool) else c.coolmap = {} end
  L.C[id] = c
  return c
end

function L.cset(c, ...)
  local args = {...}
  for i = 1, #args, 2 do c[args[i]] = args[i + 1] end
  redis.call('HSET', L.k('conv', c.id), ...)
end

-- Create a conversation hash in state "new" (not yet queued nor offered).
function L.new_conv(id, topic, lang, prio, arrived, pref, avoid_json, meta_json)
  local score = -prio * TWO42 + arrived
  local key = L.k('conv', id)
  redis.call('HSET', key, 'topic', topic, 'lang', lang, 'prio', prio, 'arrived', L.fmt(arrived),
    'state', 'new', 'meta', meta_json)
  if pref ~= '' then redis.call('HSET', key, 'pref', pref) end
  if avoid_json ~= '[]' then redis.call('HSET', key, 'avoid', avoid_json) end
  redis.call('SADD', L.k('convs'), id)
  local c = {id = id, topic = topic, lang = lang, prio = prio, arrived = arrived, score = score,
    state = 'new', agent = '', offer = '', pref = pref, avoid = avoid_json, cool = '{}',
    meta = meta_json, step = 0, cls = '', avoidset = {}, coolmap = {}}
  if avoid_json ~= '[]' then
    for _, x in ipairs(cjson.decode(avoid_json)) do c.avoidset[x] = true end
  end
  L.C[id] = c
  return c
end

function L.delete_conv(c)
  redis.call('DEL', L.k('conv', c.id))
  redis.call('SREM', L.k('convs'), c.id)
  redis.call('PEXPIRE', L.k('explain', c.id), EXPLAIN_TTL_MS)
  c.state = 'gone'
  L.C[c.id] = false
end

local FALLBACK = {tl = 1, ll = 1, steps = {}, any = false} -- a topic no longer configured

function L.topic(name)
  local t = L.topics[name]
  if t == nil then
    local raw = redis.call('HGET', L.cfg_key, 't:' .. name)
    if raw then t = cjson.decode(raw) else t = false end
    L.topics[name] = t
  end
  return t or FALLBACK
end

-- Every configured topic as {name, relaxes-to-any-agent}.
function L.topic_names()
  if not L.names then L.names = cjson.decode(redis.call('HGET', L.cfg_key, 'names')) end
  return L.names
end

-- The relaxation step in force: (step index, topic level, language level); 0 = not required.
function L.step_of(c)
  local t = L.topic(c.topic)
  local waited = L.now - c.arrived
  local step, tl, ll = 0, t.tl, t.ll
  for i = 1, #t.steps do
    local s = t.steps[i]
    if waited >= s.at then
      step, tl, ll = i, s.tl, s.ll
    else
      break
    end
  end
  return step, tl, ll
end

function L.cooling(c, id)
  local e = c.coolmap[id]
  if e and e[1] > L.now then return e[2] end
  return nil
end

local function any_cooldown(c)
  for _, e in pairs(c.coolmap) do
    if e[1] > L.now then return true end
  end
  return false
end

-- When does this waiting conversation's set of eligible agents next widen by time alone?
function L.next_due(c)
  local t = L.topic(c.topic)
  local nd = nil
  for i = 1, #t.steps do
    local at = c.arrived + t.steps[i].at
    if at > L.now then
      nd = at
      break
    end
  end
  if c.pref ~= '' then
    local we = c.arrived + L.cfg.pw
    if we > L.now and (nd == nil or we < nd) then nd = we end
  end
  for _, e in pairs(c.coolmap) do
    if e[1] > L.now and (nd == nil or e[1] < nd) then nd = e[1] end
  end
  return nd
end

-- A waiting conversation's time-driven bookkeeping: when it next widens (P:due), and the
-- reverse indexes L.widen_for reads (its preferred agent's window, its cooldowns).
function L.schedule(c)
  local nd = L.next_due(c)
  if nd then
    redis.call('ZADD', L.k('due'), L.fmt(nd), c.id)
  else
    redis.call('ZREM', L.k('due'), c.id)
  end
  if c.pref ~= '' then
    if L.now < c.arrived + L.cfg.pw then
      redis.call('SADD', L.k('agent', c.pref, 'pref'), c.id)
    else
      redis.call('SREM', L.k('agent', c.pref, 'pref'), c.id)
    end
  end
  if next(c.coolmap) then
    if any_cooldown(c) then
      redis.call('SADD', L.k('coolers'), c.id)
    else
      redis.call('SREM', L.k('coolers'), c.id)
    end
  end
end

-- File a waiting conversation under the class its step in force requires.
function L.place(c)
  local step, tl, ll = L.step_of(c)
  local K = L.class(c.topic, tl, c.lang, ll)
  if K ~= c.cls then
    L.ensure(K)
    if c.cls ~= '' then redis.call('ZREM', L.k('cw', c.cls), c.id) end
    redis.call('ZADD', L.k('cw', K), L.fmt(c.score), c.id)
    L.cset(c, 'step', step, 'cls', K)
  elseif step ~= c.step then
    L.cset(c, 'step', step)
  end
end

-- A waiting conversation judged again against its (relaxed or reconfigured) requirements:
-- refiled, its next widening rescheduled, and tried against every free agent at the end of
-- the call, recording a decision only if its step moved. kind: the record's kind.
function L.rejudge(c, kind)
  local moved = L.step_of(c) ~= c.step
  L.place(c)
  L.schedule(c)
  L.change(c, not moved, kind)
end

function L.enqueue(c)
  local score = L.fmt(c.score)
  redis.call('ZADD', L.k('waiting'), score, c.id)
  redis.call('ZADD', L.k('q', c.topic), score, c.id)
  redis.call('ZADD', L.k('qa', c.topic), L.fmt(c.arrived), c.id)
  L.cset(c, 'state', 'waiting', 'agent', '', 'offer', '')
  L.place(c)
  L.schedule(c)
  L.dirty[c.topic] = true
end

function L.dequeue(c)
  redis.call('ZREM', L.k('waiting'), c.id)
  redis.call('ZREM', L.k('q', c.topic), c.id)
  redis.call('ZREM', L.k('qa', c.topic), c.id)
  redis.call('ZREM', L.k('due'), c.id)
  if c.cls ~= '' then
    redis.call('ZREM', L.k('cw', c.cls), c.id)
    L.cset(c, 'cls', '')
  end
  if c.pref ~= '' then redis.call('SREM', L.k('agent', c.pref, 'pref'), c.id) end
  if next(c.coolmap) then redis.call('SREM', L.k('coolers'), c.id) end
  L.dirty[c.topic] = true
  L.publish({type = 'dequeued', conversation_id = c.id})
end

-- Mark a waiting conversation to be tried against every free agent at the end of the call.
-- quiet: record no "queued" decision if it still finds nobody; kind: the record's kind.
function L.change(c, quiet, kind)
  local prev = L.changed[c.id]
  if prev == nil then
    L.changed_list[#L.changed_list + 1] = c.id
    L.changed[c.id] = {quiet = quiet, kind = kind}
  elseif not quiet then
    prev.quiet = false
    prev.kind = kind
  end
end

-- Position and wait estimate ----------------------------------------------------------------

-- eta_s = ceil(position * H / C): H mean of the topic's last 50 handle times (the default
-- when none), C the summed capacity of online agents meeting the topic's step-0 class for the
-- language (no estimate when C = 0). cache: a table to reuse H and C in (read-only calls).
function L.eta(topic, lang, pos, cache)
  local h = cache and cache['h:' .. topic]
  if not h then
    local ht = redis.call('LRANGE', L.k('ht', topic), 0, 49)
    local sum, n = 0, #ht
    for i = 1, n do sum = sum + tonumber(ht[i]) end
    if n == 0 then sum, n = L.cfg.htd, 1 end
    h = {sum, n}
    if cache then cache['h:' .. topic] = h end
  end
  local t = L.topic(topic)
  local K = L.class(topic, t.tl, lang, t.ll)
  local cap = cache and cache[K]
  if not cap then
    cap = tonumber(redis.call('HGET', L.k('ccap'), K) or '0')
    if cache then cache[K] = cap end
  end
  if cap <= 0 then return nil end
  local num = pos * h[1]
  local den = h[2] * cap * 1000
  local eta = math.floor(num / den)
  if eta * den < num then eta = eta + 1 end
  return eta
end

-- (position, eta) of a waiting conversation: its rank in the topic's queue, computed now.
function L.position(c, cache)
  local r = redis.call('ZRANK', L.k('q', c.topic), c.id)
  if not r then return nil, nil end
  return r + 1, L.eta(c.topic, c.lang, r + 1, cache)
end

-- Eligibility -------------------------------------------------------------------------------

-- The pool a class is drawn from (agents with the topic skill; with no topic required, the
-- language's; with neither, everyone) as (all, online) set keys.
local function pool_keys(c, tl, ll)
  if tl > 0 then return L.k('skill', c.topic), L.k('on', c.topic) end
  if ll > 0 then return L.k('skill', c.lang), L.k('on', c.lang) end
  return L.k('agents'), L.k('on', '*')
end

-- The agents a waiting conversation names that are online and meet its class (the set co):
-- how many it avoids, and those cooling down for it (cool: id -> "declined" | "expired", not
-- counting avoided ones), each also counted among those with room. Bounded by its own lists.
function L.named(c, co)
  local nm = {avoided = 0, avoided_free = 0, cool = {}, n_cool = 0, cool_free = 0}
  for id in pairs(c.avoidset) do
    if redis.call('SISMEMBER', co, id) == 1 then
      nm.avoided = nm.avoided + 1
      local a = L.agent_for(id, c.topic, c.lang)
      if a and a.load < a.capacity then nm.avoided_free = nm.avoided_free + 1 end
    end
  end
  for id, e in pairs(c.coolmap) do
    if e[1] > L.now and not c.avoidset[id] and redis.call('SISMEMBER', co, id) == 1 then
      nm.cool[id] = e[2]
      nm.n_cool = nm.n_cool + 1
      local a = L.agent_for(id, c.topic, c.lang)
      if a and a.load < a.capacity then nm.cool_free = nm.cool_free + 1 end
    end
  end
  return nm
end

-- Judge a conversation: the winner is rule 2's best eligible agent, or nil. Reads the class's
-- index head (skipping the few agents the conversation names: avoided, cooling down) and
-- counts the rest from set sizes. ev.listed: up to 10 ranked candidates read; ev.counts:
-- how many agents of the pool each reason excluded.
function L.evaluate(c)
  L.ready()
  local step, tl, ll = L.step_of(c)
  local K = L.class(c.topic, tl, c.lang, ll)
  L.ensure(K)
  local co = L.k('co', K)
  local n_on = redis.call('SCARD', co)
  local n_free = redis.call('ZCARD', L.k('cf', K))
  local nm = L.named(c, co)
  local avoided, avoided_free, cool = nm.avoided, nm.avoided_free, nm.cool
  local n_cool, cool_free = nm.n_cool, nm.cool_free
  local fresh = n_on - avoided - n_cool -- qualified agents not cooling down
  local window = nil
  if c.pref ~= '' and L.now < c.arrived + L.cfg.pw and not c.avoidset[c.pref]
    and not L.cooling(c, c.pref) and redis.call('SISMEMBER', co, c.pref) == 1 then
    window = c.pref
  end
  local pool, pool_on = pool_keys(c, tl, ll)
  local total = redis.call('SCARD', pool)
  local online = redis.call('SCARD', pool_on)
  local counts = {}
  local function count(reason, n)
    if n > 0 then counts[reason] = n end
  end
  count('not_online', total - online)
  count('below_level', online - n_on)
  count('avoided', avoided)
  local listed, others, winner, evaluated, eligible = {}, {}, nil, 0, 0
  if window then
    local a = L.agent_for(window, c.topic, c.lang)
    evaluated = 1
    if a.load < a.capacity then
      winner = a
      eligible = 1
      listed[1] = {a, false}
    else
      others[1] = {a, 'full ' .. a.load .. '/' .. a.capacity}
      count('full', 1)
    end
    count('preferred_first', n_on - avoided - 1)
  else
    eligible = n_free - avoided_free
    if fresh > 0 then eligible = eligible - cool_free end
    count('full', n_on - n_free - (avoided - avoided_free))
    if fresh > 0 then count('cooling_down', cool_free) end
    local cf, i, chunk = L.k('cf', K), 0, CANDIDATES_KEEP
    while #listed < CANDIDATES_KEEP do
      local z = redis.call('ZRANGE', cf, i, i + chunk - 1)
      if #z == 0 then break end
      for _, m in ipairs(z) do
        local id = member_id(m)
        local a = L.agent_for(id, c.topic, c.lang)
        evaluated = evaluated + 1
        if c.avoidset[id] then
          if #others < CANDIDATES_KEEP then others[#others + 1] = {a, 'avoided'} end
        elseif cool[id] and fresh > 0 then
          if #others < CANDIDATES_KEEP then others[#others + 1] = {a, cool[id] .. ' earlier'} end
        else
          winner = winner or a
          listed[#listed + 1] = {a, false}
          if #listed >= CANDIDATES_KEEP then break end
        end
      end
      i = i + chunk
    end
  end
  for _, o in ipairs(others) do listed[#listed + 1] = o end
  return {step = step, tl = tl, ll = ll, K = K, winner = winner, window = window,
    listed = listed, counts = counts, total = total, evaluated = evaluated, eligible = eligible}
end

-- Is a free agent (online, room, meeting c's class) eligible for waiting conversation c?
-- The avoid list, another agent's preferred window and its own cooldown may still say no.
function L.open_to(c, a)
  if c.avoidset[a.id] then return false end
  local K = c.cls
  if c.pref ~= '' and c.pref ~= a.id and L.now < c.arrived + L.cfg.pw
    and not c.avoidset[c.pref] and not L.cooling(c, c.pref)
    and redis.call('SISMEMBER', L.k('co', K), c.pref) == 1 then
    return false
  end
  if L.cooling(c, a.id) then
    local co = L.k('co', K)
    local nm = L.named(c, co)
    if redis.call('SCARD', co) - nm.avoided - nm.n_cool > 0 then return false end
  end
  return true
end

-- Explanations ------------------------------------------------------------------------------

-- Stored compactly as [agent id, load, capacity, idle since (ms), reason excluded or false];
-- routing._calls.explanation_from expands it to the documented candidate objects.
local function cand_entry(a, reason)
  return {a.id, a.load, a.capacity, a.idle, reason or false}
end

-- Append a record to the conversation's explanation list; returns the JSON text.
function L.record(c, kind, ev, extra)
  local rec = {ts = L.ts, kind = kind}
  if ev then
    rec.step = ev.step
    local req = {}
    if ev.tl > 0 then req[c.topic] = ev.tl end
    if ev.ll > 0 then req[c.lang] = ev.ll end
    rec.required = req
    local list = {}
    for i, e in ipairs(ev.listed) do list[i] = cand_entry(e[1], e[2]) end
    rec.c = list
    rec.candidates_total = ev.total
    rec.evaluated = ev.evaluated
    rec.eligible = ev.eligible
    rec.excluded = ev.counts
    if ev.winner then rec.winner = ev.winner.id else rec.winner = cjson.null end
    if ev.window then rec.preferred = ev.window end
  end
  if extra then
    for key, v in pairs(extra) do rec[key] = v end
  end
  local text = cjson.encode(rec)
  local key = L.k('explain', c.id)
  if redis.call('RPUSH', key, text) > EXPLAIN_KEEP then
    redis.call('LTRIM', key, -EXPLAIN_KEEP, -1)
  end
  return text
end

-- Offers ------------------------------------------------------------------------------------

function L.offer_view(oid, c, agent_id, deadline)
  return {offer_id = oid, conversation_id = c.id, agent_id = agent_id, deadline = deadline,
    topic = c.topic, language = c.lang, arrived_at = c.arrived, meta = c.meta}
end

-- Offer conversation c to agent a: reserve capacity, publish, explain.
function L.offer(c, a, kind, ev, extra)
  L.seq = L.seq + 1
  local oid = L.token .. '-' .. L.seq
  local deadline = L.now + L.cfg.ot
  redis.call('HSET', L.k('offer', oid), 'conv', c.id, 'agent', a.id, 'deadline', L.fmt(deadline),
    'state', 'open')
  redis.call('ZADD', L.k('offers_due'), L.fmt(deadline), oid)
  redis.call('SADD', L.k('agent', a.id, 'offers'), oid)
  L.record(c, kind, ev, extra)
  L.aset(a, 'load', a.load + 1)
  L.sync(a)
  if c.state == 'waiting' then L.dequeue(c) end
  local step = c.step
  if ev then step = ev.step end
  L.cset(c, 'state', 'offered', 'agent', a.id, 'offer', oid, 'step', step)
  L.publish({type = 'offered', offer_id = oid, conversation_id = c.id, agent_id = a.id,
    node = L.nul(a.node), deadline = deadline / 1000, expires_in_s = L.cfg.ot / 1000,
    topic = c.topic, language = c.lang, arrived_at = c.arrived / 1000,
    meta = cjson.decode(c.meta)})
  local view = L.offer_view(oid, c, a.id, deadline)
  L.offers[#L.offers + 1] = view
  L.stat('offered')
  return view
end

-- Withdraw an open offer (reason: declined | expired | agent_away | agent_offline | cancelled).
-- Frees the agent's reserved slot. Returns conversation, agent, offer view (or nil if not open).
function L.withdraw(oid, reason)
  local key = L.k('offer', oid)
  local o = redis.call('HMGET', key, 'conv', 'agent', 'state', 'deadline')
  if o[3] ~= 'open' then return nil end
  redis.call('HSET', key, 'state', reason, 'ended', L.fmt(L.now))
  redis.call('PEXPIRE', key, TOMBSTONE_MS)
  redis.call('ZREM', L.k('offers_due'), oid)
  local a = L.agent(o[2])
  local c = L.conv(o[1])
  if a then
    redis.call('SREM', L.k('agent', a.id, 'offers'), oid)
    L.aset(a, 'load', a.load - 1, 'idle', L.now)
    L.sync(a)
    L.mark_freed(a)
  end
  L.publish({type = 'offer_withdrawn', offer_id = oid, conversation_id = o[1], agent_id = o[2],
    node = L.nul(a and a.node), reason = reason})
  local view = nil
  if c then
    view = L.offer_view(oid, c, o[2], tonumber(o[4]))
    if reason == 'declined' or reason == 'expired' then
      local cool = {}
      for id, e in pairs(c.coolmap) do
        if e[1] > L.now then cool[id] = e end
      end
      cool[o[2]] = {L.now + L.cfg.cd, reason}
      c.coolmap = cool
      L.cset(c, 'cool', cjson.encode(cool))
    end
    L.cset(c, 'offer', '', 'agent', '')
    L.record(c, 'withdrawn', nil, {agent_id = o[2], offer_id = oid, reason = reason})
  end
  L.stat(reason)
  return c, a, view
end

-- Withdraw and put the conversation back in its queue, to be routed again this call.
function L.withdraw_requeue(oid, reason)
  local c, a, view = L.withdraw(oid, reason)
  if c then
    L.enqueue(c)
    L.change(c, false, 'rerouted')
  end
  return c, a, view
end

-- Offer timed out: withdraw, requeue, count the agent's missed offers (2 in a row: away).
function L.expire(oid)
  local c, a, view = L.withdraw_requeue(oid, 'expired')
  if a then
    L.aset(a, 'streak', a.streak + 1)
    if a.streak >= 2 and a.status == 'online' then L.set_status(a, 'away', a.node, 'missed_offers') end
  end
  return view
end

-- Presence ----------------------------------------------------------------------------------

function L.set_status(a, status, node, why)
  local old, old_node = a.status, a.node
  if status == 'offline' then node = '' end
  if old_node ~= node then
    if old_node ~= '' then redis.call('SREM', L.k('node', old_node, 'agents'), a.id) end
    if node ~= '' then redis.call('SADD', L.k('node', node, 'agents'), a.id) end
  end
  if node ~= '' then redis.call('ZADD', L.k('nodes'), 'NX', L.fmt(L.now), node) end
  L.aset(a, 'status', status, 'node', node)
  if status == 'online' and old ~= 'online' then L.aset(a, 'idle', L.now, 'streak', 0) end
  L.sync(a)
  if status ~= 'online' then
    local reason = 'agent_away'
    if status == 'offline' then reason = 'agent_offline' end
    local oids = redis.call('SMEMBERS', L.k('agent', a.id, 'offers'))
    table.sort(oids)
    for _, oid in ipairs(oids) do L.withdraw_requeue(oid, reason) end
  end
  if old == 'offline' and status ~= 'offline' then
    for _, cid in ipairs(redis.call('SMEMBERS', L.k('agent', a.id, 'active'))) do
      redis.call('ZREM', L.k('orphans'), cid)
    end
  elseif status == 'offline' and old ~= 'offline' then
    for _, cid in ipairs(redis.call('SMEMBERS', L.k('agent', a.id, 'active'))) do
      redis.call('ZADD', L.k('orphans'), L.fmt(L.now + L.cfg.gr), cid)
    end
  end
  if status == 'online' then
    L.mark_freed(a)
  elseif old == 'online' then
    L.widen_for(a)
  end
  if old ~= status or old_node ~= node then
    local ev = {type = 'presence', agent_id = a.id, status = status, node = L.nul(node)}
    if status == 'offline' then ev.node = L.nul(old_node) end
    if why then ev.reason = why end
    L.publish(ev)
  end
end

-- Take an active conversation off its agent (release, transfer, requeue after grace).
function L.unassign(c)
  local a = L.agent_for(c.agent, c.topic, c.lang)
  if a then
    if redis.call('SREM', L.k('agent', a.id, 'active'), c.id) == 1 then
      L.aset(a, 'load', a.load - 1, 'idle', L.now)
      L.sync(a)
      L.mark_freed(a)
    end
  end
  if not a or a.status == 'offline' then redis.call('ZREM', L.k('orphans'), c.id) end
  return a
end

-- End a conversation in any state. mode: "release" (chat ended) or "cancel" (visitor left).
function L.end_conv(c, mode)
  if c.state == 'active' then
    local agent_id = c.agent
    L.unassign(c)
    local handle = L.now - (tonumber(c.accepted or '') or L.now)
    if handle < 0 then handle = 0 end
    local key = L.k('ht', c.topic)
    if redis.call('LPUSH', key, L.fmt(handle)) > 50 then redis.call('LTRIM', key, 0, 49) end
    L.publish({type = 'released', conversation_id = c.id, agent_id = agent_id})
    L.record(c, 'released', nil, {agent_id = agent_id, handle_s = handle / 1000})
    L.stat('released')
  else
    if c.state == 'offered' then
      L.withdraw(c.offer, 'cancelled')
    elseif c.state == 'waiting' then
      L.dequeue(c)
    end
    L.record(c, 'cancelled', nil, {by = mode})
    L.stat('abandoned')
  end
  L.delete_conv(c)
end

-- Matching ----------------------------------------------------------------------------------

-- Try one waiting (or new) conversation against every agent. Returns the offer or nil.
function L.route(c, quiet, kind)
  local ev = L.evaluate(c)
  if ev.winner then return L.offer(c, ev.winner, 'offer', ev), ev end
  if c.state == 'waiting' then L.place(c) end
  if not quiet then L.record(c, kind or 'queued', ev) end
  return nil, ev
end

local function before(x_score, x_id, y_score, y_id)
  if x_score ~= y_score then return x_score < y_score end
  return x_id < y_id
end

local function by_score(x, y)
  return before(x.score, x.id, y.score, y.id)
end

-- The first waiting conversation, in queue order, that a free agent is eligible for: the
-- earliest of the heads of the waiting sets of the classes it meets (skipping conversations
-- that name it avoided, cooling down, or wait for their preferred agent). nil if none.
function L.first_for(a)
  local best, best_score = nil, nil
  for K in string.gmatch(a.cls, '%S+') do
    local key, i = L.k('cw', K), 0
    local done = false
    while not done do
      local z = redis.call('ZRANGE', key, i, i + 7, 'WITHSCORES')
      if #z == 0 then break end
      for j = 1, #z, 2 do
        local id, score = z[j], tonumber(z[j + 1])
        if best and not before(score, id, best_score, best) then
          done = true
          break
        end
        local c = L.conv(id)
        if c and c.state == 'waiting' and L.open_to(c, a) then
          best, best_score = id, score
          done = true
          break
        end
      end
      i = i + 8
    end
  end
  return best, best_score
end

-- The matching pass, run once at the end of every state-changing script, in queue order
-- (priority, then arrival, across topics) over the union of
--   * every conversation whose options widened during the call (new, requeued, relaxed, a
--     window or cooldown ended …): routed against every agent; and
--   * for each agent that gained room (or came online, or gained skills), the first waiting
--     conversation it is eligible for (L.first_for): routed, as the earliest one it can take.
-- One pass in one order is what makes "each agent is offered the first waiting conversation
-- it is eligible for" hold when several things changed at once. Before the call no agent with
-- room was eligible for a waiting conversation; what changed is all in the pass, so the same
-- holds after it.
function L.match()
  local free = {}
  if redis.call('ZCARD', L.k('waiting')) > 0 then
    for _, id in ipairs(L.freed_list) do
      local a = L.agent(id)
      if a and a.status == 'online' and a.load < a.capacity then free[#free + 1] = a end
    end
  end
  local pend = {}
  for _, id in ipairs(L.changed_list) do
    local c = L.conv(id)
    if c and c.state == 'waiting' then pend[#pend + 1] = c end
  end
  if #free == 0 and #pend == 0 then return end
  table.sort(pend, by_score)
  local firsts, pi = {}, 1
  while true do
    while pend[pi] and pend[pi].state ~= 'waiting' do pi = pi + 1 end
    local best, via = pend[pi], nil
    for _, a in ipairs(free) do
      if a.status == 'online' and a.load < a.capacity then
        local f = firsts[a.id]
        if f and L.C[f[1]] and L.C[f[1]].state ~= 'waiting' then f = nil end
        if f == nil then
          local id, score = L.first_for(a)
          f = false
          if id then f = {id, score} end
          firsts[a.id] = f
        end
        if f and (not best or before(f[2], f[1], best.score, best.id)) then
          best, via = L.conv(f[1]), a
        end
      end
    end
    if not best then break end
    if best == pend[pi] then
      pi = pi + 1
      local ch = L.changed[best.id]
      L.route(best, ch.quiet, ch.kind)
    elseif not L.route(best, true) then
      firsts[via.id] = false -- not expected: first_for found it open to this agent
    end
  end
end

-- Time-driven widening: relaxation steps, preferred windows and cooldowns that came due.
function L.advance()
  if L.advanced then return end
  L.advanced = true
  local due = redis.call('ZRANGEBYSCORE', L.k('due'), '-inf', L.fmt(L.now), 'LIMIT', 0, BATCH)
  for _, id in ipairs(due) do
    local c = L.conv(id)
    if c and c.state == 'waiting' then
      L.rejudge(c, 'relaxed')
    else
      redis.call('ZREM', L.k('due'), id)
    end
  end
end

-- A topic whose queue head changed announces its new first at once (position 1); the other
-- positions are read when asked (ZRANK), by the hubs for their own visitors.
function L.announce_heads()
  for topic in pairs(L.dirty) do
    local head = redis.call('ZRANGE', L.k('q', topic), 0, 0)[1]
    local last = redis.call('HGET', L.k('heads'), topic) or nil
    if head ~= last then
      if head then
        redis.call('HSET', L.k('heads'), topic, head)
        local lang = redis.call('HGET', L.k('conv', head), 'lang')
        L.publish({type = 'queue', conversation_id = head, position = 1,
          eta_s = L.nul(L.eta(topic, lang, 1))})
      else
        redis.call('HDEL', L.k('heads'), topic)
      end
    end
  end
end

-- Run at the end of every state-changing script: widen by time, match (see L.match), and
-- announce new queue heads. Afterwards no online agent with room is eligible for a waiting
-- conversation.
function L.rebalance()
  L.ready()
  L.advance()
  L.match()
  L.announce_heads()
end

-- The decision record behind the conversation's current offer (the last one recorded).
local function is_decision(text)
  return string.find(text, '"kind":"offer"', 1, true) or
    string.find(text, '"kind":"transfer"', 1, true)
end

function L.decision(cid)
  local key = L.k('explain', cid)
  local last = redis.call('LINDEX', key, -1)
  if last and is_decision(last) then return last end
  local all = redis.call('LRANGE', key, 0, -1)
  for i = #all, 1, -1 do
    if is_decision(all[i]) then return all[i] end
  end
  return '{}'
end

-- The script's answer: JSON; a raw JSON text (a decision record) may ride along unescaped.
function L.reply(t, raw)
  t.offers = L.offers
  if raw then return {cjson.encode(t), raw} end
  return cjson.encode(t)
end

function L.fail(code, msg, extra)
  local t = {err = code, msg = msg}
  if extra then
    for key, v in pairs(extra) do t[key] = v end
  end
  return cjson.encode(t)
end

L.init(KEYS, ARGV)
