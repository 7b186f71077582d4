-- lib/eligibility.lua — the decision: rule 2's best eligible agent for a conversation, read
-- from its class index (L.evaluate); whether a free agent may take a waiting one (L.open_to);
-- the explanation record of each decision. Part of the library shared by every routing
-- script (see keys.lua).

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
