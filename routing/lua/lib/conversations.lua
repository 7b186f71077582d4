-- lib/conversations.lua — a conversation's hash, its relaxation step and the time-driven
-- widening of who may take it, its filing in the waiting sets, its queue position and wait
-- estimate. Part of the library shared by every routing script (see keys.lua).

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
