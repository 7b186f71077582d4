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
--   P:skill:<skill>       set   agents having <skill> at level >= 1
--   P:agent:<id>          hash  status node capacity load idle streak s:<skill>=<level>
--   P:agent:<id>:active   set   conversations the agent holds
--   P:agent:<id>:offers   set   open offers reserved on the agent
--   P:convs               set   live conversation ids
--   P:conv:<id>           hash  topic lang prio arrived state meta, and as they apply: agent
--                               offer pref avoid cool step pos eta accepted
--   P:waiting             zset  waiting conversations, score = -prio * 2^42 + arrived_ms
--   P:q:<topic>           zset  the same per topic: position = ZRANK + 1
--   P:due                 zset  waiting conversation -> when its eligibility next widens
--                               (relaxation step, end of preferred window, end of a cooldown)
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

local L = {}
local TWO42 = 4398046511104
local EXPLAIN_KEEP = 20
local CANDIDATES_KEEP = 20
local TOMBSTONE_MS = 3600000
local EXPLAIN_TTL_MS = 86400000
local BATCH = 500

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
  L.full = false
  L.advanced = false
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

-- Agents ------------------------------------------------------------------------------------

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
  a = a or {id = id}
  a.s = {}
  for i = 1, #h, 2 do
    local f = h[i]
    if string.byte(f, 1) == 115 and string.byte(f, 2) == 58 then -- "s:<skill>"
      a.s[string.sub(f, 3)] = tonumber(h[i + 1])
    else
      a[f] = h[i + 1]
    end
  end
  a.capacity = tonumber(a.capacity)
  a.load = tonumber(a.load)
  a.idle = tonumber(a.idle)
  a.streak = tonumber(a.streak or '0')
  a.node = a.node or ''
  a.full = true
  a.in_free = a.status == 'online' and a.load < a.capacity
  L.A[id] = a
  return a
end

-- An agent with only two skills loaded (cheaper when judging many candidates); any other
-- skill is fetched on demand by L.skill.
-- (a.s[skill] is false for a skill known to be missing on a partly loaded agent.)
function L.agent_for(id, s1, s2)
  local a = L.A[id]
  if a ~= nil then
    if a then return a end
    return nil
  end
  local h = redis.call('HMGET', L.P .. ':agent:' .. id, 'status', 'capacity', 'load', 'idle',
    'node', 'streak', 's:' .. s1, 's:' .. s2)
  if not h[1] then
    L.A[id] = false
    return nil
  end
  local load, capacity = tonumber(h[3]), tonumber(h[2])
  a = {id = id, status = h[1], capacity = capacity, load = load, idle = tonumber(h[4]),
    node = h[5] or '', streak = tonumber(h[6] or '0'),
    s = {[s1] = tonumber(h[7] or '') or false, [s2] = tonumber(h[8] or '') or false},
    in_free = h[1] == 'online' and load < capacity}
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
    'load', 0, 'idle', L.fmt(L.now), 'streak', 0)
  redis.call('SADD', L.k('agents'), id)
  local a = {id = id, status = 'offline', node = '', capacity = 0, load = 0, idle = L.now,
    streak = 0, s = {}, full = true, in_free = false}
  L.A[id] = a
  return a
end

function L.sync_free(a)
  local free = a.status == 'online' and a.load < a.capacity
  if free == a.in_free then return end
  if free then
    redis.call('SADD', L.k('free'), a.id)
  else
    redis.call('SREM', L.k('free'), a.id)
  end
  a.in_free = free
end

function L.mark_freed(a)
  if not L.freed[a.id] then
    L.freed[a.id] = true
    L.freed_list[#L.freed_list + 1] = a.id
  end
end

function L.dirty_all()
  for _, nt in ipairs(L.topic_names()) do L.dirty[nt[1]] = true end
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
  c.pos = tonumber(c.pos or '')
  c.eta = tonumber(c.eta or '')
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
    meta = meta_json, step = 0, avoidset = {}, coolmap = {}}
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

function L.schedule(c)
  local nd = L.next_due(c)
  if nd then
    redis.call('ZADD', L.k('due'), L.fmt(nd), c.id)
  else
    redis.call('ZREM', L.k('due'), c.id)
  end
end

-- A waiting conversation judged again against its (relaxed or reconfigured) requirements:
-- its next relaxation rescheduled, and tried against every free agent at the end of the call,
-- recording a decision only if its step moved. kind: the record's kind.
function L.rejudge(c, kind)
  L.schedule(c)
  L.change(c, L.step_of(c) == c.step, kind)
end

function L.enqueue(c)
  local score = L.fmt(c.score)
  redis.call('ZADD', L.k('waiting'), score, c.id)
  redis.call('ZADD', L.k('q', c.topic), score, c.id)
  L.cset(c, 'state', 'waiting', 'agent', '', 'offer', '', 'step', (L.step_of(c)))
  L.schedule(c)
  L.dirty[c.topic] = true
end

function L.dequeue(c)
  redis.call('ZREM', L.k('waiting'), c.id)
  redis.call('ZREM', L.k('q', c.topic), c.id)
  redis.call('ZREM', L.k('due'), c.id)
  L.dirty[c.topic] = true
  if c.pos then
    L.publish({type = 'dequeued', conversation_id = c.id})
    redis.call('HSET', L.k('conv', c.id), 'pos', '', 'eta', '')
    c.pos = nil
    c.eta = nil
  end
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

-- Eligibility -------------------------------------------------------------------------------

-- nil if the agent is qualified for the conversation at these levels (status, avoid list,
-- skills), otherwise the reason it is not. Capacity, cooldown and the preferred-agent window
-- are judged in L.evaluate.
function L.unqualified(a, c, tl, ll)
  if a.status ~= 'online' then return 'status ' .. a.status end
  if c.avoidset[a.id] then return 'avoided' end
  if tl > 0 then
    local lv = L.skill(a, c.topic)
    if not lv then return 'missing skill ' .. c.topic end
    if lv < tl then return 'level ' .. c.topic .. ' ' .. lv .. ' < ' .. tl end
  end
  if ll > 0 then
    local lv = L.skill(a, c.lang)
    if not lv then return 'missing skill ' .. c.lang end
    if lv < ll then return 'level ' .. c.lang .. ' ' .. lv .. ' < ' .. ll end
  end
  return nil
end

function L.pool(c, tl, ll)
  if tl > 0 then return redis.call('SMEMBERS', L.k('skill', c.topic)) end
  if ll > 0 then return redis.call('SMEMBERS', L.k('skill', c.lang)) end
  return redis.call('SMEMBERS', L.k('agents'))
end

-- Rule 2: lowest load ratio, then longest idle, then agent id.
function L.better(x, y)
  local l = x.load * y.capacity
  local r = y.load * x.capacity
  if l ~= r then return l < r end
  if x.idle ~= y.idle then return x.idle < y.idle end
  return x.id < y.id
end

-- Judge every candidate for a conversation; the winner is the best eligible agent or nil.
function L.evaluate(c)
  local step, tl, ll = L.step_of(c)
  local ids = L.pool(c, tl, ll)
  local cands = {}
  local fresh = 0 -- qualified agents not cooling down for this conversation
  for i = 1, #ids do
    local a = L.agent_for(ids[i], c.topic, c.lang)
    if a then
      local cand = {a = a, r = L.unqualified(a, c, tl, ll)}
      cands[#cands + 1] = cand
      if not cand.r then
        cand.cool = L.cooling(c, a.id)
        if not cand.cool then fresh = fresh + 1 end
      end
    end
  end
  local window = nil
  if c.pref ~= '' and L.now < c.arrived + L.cfg.pw then
    local pa = L.agent_for(c.pref, c.topic, c.lang)
    if pa and not L.unqualified(pa, c, tl, ll) and not L.cooling(c, pa.id) then window = pa.id end
  end
  local elig = {}
  for _, cand in ipairs(cands) do
    if not cand.r then
      local a = cand.a
      if window and a.id ~= window then
        cand.r = 'preferred agent ' .. window .. ' first'
      elseif a.load >= a.capacity then
        cand.r = 'full ' .. a.load .. '/' .. a.capacity
      elseif cand.cool and fresh > 0 then
        cand.r = cand.cool .. ' earlier'
      else
        elig[#elig + 1] = a
      end
    end
  end
  table.sort(elig, L.better)
  local online = 0 -- online agents having the topic skill at all (when the pool says so)
  if tl > 0 then
    for _, cand in ipairs(cands) do
      if cand.a.status == 'online' then online = online + 1 end
    end
  else
    online = nil
  end
  return {step = step, tl = tl, ll = ll, cands = cands, elig = elig, winner = elig[1],
    window = window, online = online}
end

-- Explanations ------------------------------------------------------------------------------

local function by_agent_id(x, y)
  return x.a.id < y.a.id
end

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
    -- eligible agents in rank order (ev.elig is sorted), then the others by id
    local list, rest = {}, {}
    for _, a in ipairs(ev.elig) do
      if #list < CANDIDATES_KEEP then list[#list + 1] = cand_entry(a) end
    end
    for _, cand in ipairs(ev.cands) do
      if cand.r then rest[#rest + 1] = cand end
    end
    table.sort(rest, by_agent_id)
    for _, cand in ipairs(rest) do
      if #list >= CANDIDATES_KEEP then break end
      list[#list + 1] = cand_entry(cand.a, cand.r)
    end
    rec.c = list
    rec.candidates_total = #ev.cands
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
  L.sync_free(a)
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
    L.sync_free(a)
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
  L.sync_free(a)
  L.full = true
  L.dirty_all()
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
      L.sync_free(a)
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
    L.dirty[c.topic] = true
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
  if not quiet then
    local step = ev.step
    if step ~= c.step then L.cset(c, 'step', step) end
    L.record(c, kind or 'queued', ev)
  end
  return nil, ev
end

local function by_score(x, y)
  if x.score ~= y.score then return x.score < y.score end
  return x.id < y.id
end

-- The matching pass, run once at the end of every state-changing script. It walks, in queue
-- order (priority, then arrival, across topics), the union of
--   * every conversation whose options widened during the call (new, requeued, relaxed, a
--     window or cooldown ended …): routed against every agent; and
--   * every waiting conversation of the topics the agents that gained room can serve (all
--     online agents with room after a status or skill change): routed when one of those
--     agents is qualified for it.
-- One pass in one order is what makes "each agent is offered the first waiting conversation
-- it is eligible for" hold when several things changed at once. Before the call no agent with
-- room was eligible for a waiting conversation; what changed is all in the walk, so the same
-- holds after it.
function L.match(ids)
  local free = {}
  if #ids > 0 and redis.call('ZCARD', L.k('waiting')) > 0 then
    for _, id in ipairs(ids) do
      local a = L.agent(id)
      if a and a.status == 'online' and a.load < a.capacity then free[#free + 1] = a end
    end
  end
  if #free == 0 and #L.changed_list == 0 then return end
  local list, seen = {}, {}
  if #free > 0 then
    for _, nt in ipairs(L.topic_names()) do
      local name, wanted = nt[1], nt[2]
      if not wanted then
        for _, a in ipairs(free) do
          if a.s[name] then
            wanted = true
            break
          end
        end
      end
      if wanted then
        local z = redis.call('ZRANGE', L.k('q', name), 0, -1, 'WITHSCORES')
        for i = 1, #z, 2 do
          list[#list + 1] = {id = z[i], score = tonumber(z[i + 1])}
          seen[z[i]] = true
        end
      end
    end
  end
  for _, id in ipairs(L.changed_list) do
    if not seen[id] then
      local c = L.conv(id)
      if c and c.state == 'waiting' then list[#list + 1] = {id = id, score = c.score} end
    end
  end
  table.sort(list, by_score)
  for _, item in ipairs(list) do
    local c = L.conv(item.id)
    if c and c.state == 'waiting' then
      local ch = L.changed[c.id]
      if ch then
        L.route(c, ch.quiet, ch.kind)
      elseif #free > 0 then
        local _, tl, ll = L.step_of(c)
        local maybe = false
        for _, a in ipairs(free) do
          if a.load < a.capacity and a.status == 'online' and not L.unqualified(a, c, tl, ll) then
            maybe = true
            break
          end
        end
        if maybe and L.route(c, true) then
          local still = {}
          for _, a in ipairs(free) do
            if a.load < a.capacity then still[#still + 1] = a end
          end
          free = still
        end
      end
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

-- Summed capacity of online agents meeting the topic's step-0 requirements for a language.
function L.capacity_for(topic, lang)
  local t = L.topic(topic)
  local probe = {topic = topic, lang = lang, avoidset = {}}
  local ids = L.pool(probe, t.tl, t.ll)
  local sum = 0
  for _, id in ipairs(ids) do
    local a = L.agent_for(id, topic, lang)
    if a and not L.unqualified(a, probe, t.tl, t.ll) then sum = sum + a.capacity end
  end
  return sum
end

-- Recompute position and wait estimate of every conversation waiting for the topic; publish
-- a "queue" event for each one whose position or estimate changed.
-- eta_s = ceil(position * H / C): H mean of the last 50 handle times (default when none),
-- C summed capacity of online agents eligible at step 0 (no estimate when C = 0).
function L.refresh(topic)
  local ids = redis.call('ZRANGE', L.k('q', topic), 0, -1)
  if #ids == 0 then return end
  local ht = redis.call('LRANGE', L.k('ht', topic), 0, 49)
  local sum, n = 0, #ht
  for i = 1, n do sum = sum + tonumber(ht[i]) end
  if n == 0 then sum, n = L.cfg.htd, 1 end
  local caps = {}
  for i, id in ipairs(ids) do
    local c = L.conv(id)
    local cap = caps[c.lang]
    if cap == nil then
      cap = L.capacity_for(topic, c.lang)
      caps[c.lang] = cap
    end
    local eta = nil
    if cap > 0 then
      local num = i * sum
      local den = n * cap * 1000
      eta = math.floor(num / den)
      if eta * den < num then eta = eta + 1 end
    end
    if c.pos ~= i or c.eta ~= eta then
      redis.call('HSET', L.k('conv', id), 'pos', i, 'eta', eta or '')
      c.pos = i
      c.eta = eta
      L.publish({type = 'queue', conversation_id = id, position = i, eta_s = L.nul(eta)})
    end
  end
end

-- Run at the end of every state-changing script: widen by time, match (see L.match), and
-- publish queue positions that changed. Afterwards no online agent with room is eligible for
-- a waiting conversation.
function L.rebalance()
  L.advance()
  if L.full then
    L.match(redis.call('SMEMBERS', L.k('free')))
  else
    L.match(L.freed_list)
  end
  for topic in pairs(L.dirty) do L.refresh(topic) end
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
