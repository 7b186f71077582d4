-- lib/classes.lua — requirement classes: their text, whether an agent's skills meet one, and
-- their indexes, built once per configuration (and from older state, once). Part of the
-- library shared by every routing script (see keys.lua).

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
