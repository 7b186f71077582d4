-- lib/agents.lua — an agent's hash read and written, and L.sync, which brings every index of
-- the agent (free, away, per-skill and per-class sets and sums) in step with its fields. Part
-- of the library shared by every routing script (see keys.lua).

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
