-- snapshot.lua — read-only: one consistent picture of the routing state, for agents(),
-- queue(), pending offers and invariant checks; or, cheaper, the figures of stats() or the
-- positions of some waiting conversations. Changes nothing, publishes nothing.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] one agent id, or "" for all agents
-- ARGV[5] "agents" (agents only), "all", "stats" (counters and set sizes: no walk),
--         "positions" (ARGV[6…] conversation ids: [position, eta_s] or null for each), or
--         "floor" (the dashboard's live floor, bounded: ARGV[6] rows, ARGV[7] SLA in ms)
local mode = ARGV[5]

-- Every agent (or one), in id order, as the reading API returns it: its state, skills, the
-- conversations it holds and its open offers.
local function agents_of(ids)
  table.sort(ids)
  local list = {}
  for _, id in ipairs(ids) do
    local a = L.agent(id)
    if a then
      local offers = {}
      for _, oid in ipairs(redis.call('SMEMBERS', L.k('agent', id, 'offers'))) do
        local o = redis.call('HMGET', L.k('offer', oid), 'conv', 'deadline')
        offers[#offers + 1] = {offer_id = oid, conversation_id = o[1], deadline = tonumber(o[2])}
      end
      list[#list + 1] = {agent_id = id, status = a.status, node = L.nul(a.node),
        capacity = a.capacity, load = a.load, idle_since = a.idle, streak = a.streak, skills = a.s,
        active = redis.call('SMEMBERS', L.k('agent', id, 'active')), offers = offers}
    end
  end
  return list
end

if mode == 'positions' then
  local out, cache = {}, {}
  for i = 6, #ARGV do
    local h = redis.call('HMGET', L.k('conv', ARGV[i]), 'state', 'topic', 'lang')
    local item = cjson.null
    if h[1] == 'waiting' then
      local pos, eta = L.position({id = ARGV[i], topic = h[2], lang = h[3]}, cache)
      if pos then item = {pos, L.nul(eta)} end
    end
    out[#out + 1] = item
  end
  return cjson.encode({positions = out})
end

if mode == 'stats' then
  local topics = {}
  local sk = L.k('sk')
  for _, nt in ipairs(L.topic_names()) do
    local name = nt[1]
    local oldest = redis.call('ZRANGE', L.k('qa', name), 0, 0, 'WITHSCORES')
    local sums = redis.call('HMGET', sk, 'cap:' .. name, 'load:' .. name)
    topics[name] = {waiting = redis.call('ZCARD', L.k('q', name)),
      oldest = tonumber(oldest[2] or '') or cjson.null,
      agents_online = redis.call('SCARD', L.k('on', name)),
      capacity = tonumber(sums[1] or '0'), load = tonumber(sums[2] or '0'),
      handle_times = redis.call('LRANGE', L.k('ht', name), 0, 49)}
  end
  local sums = redis.call('HMGET', sk, 'cap:*', 'load:*')
  local waiting = redis.call('ZCARD', L.k('waiting'))
  local offered = redis.call('ZCARD', L.k('offers_due'))
  return cjson.encode({topics = topics, waiting = waiting, offered = offered,
    active = redis.call('SCARD', L.k('convs')) - waiting - offered,
    agents_online = redis.call('SCARD', L.k('on', '*')),
    agents_away = redis.call('SCARD', L.k('away')),
    capacity = tonumber(sums[1] or '0'), load = tonumber(sums[2] or '0'),
    stats = redis.call('HGETALL', L.k('stats')),
    nodes = redis.call('ZRANGE', L.k('nodes'), 0, -1, 'WITHSCORES')})
end

if mode == 'floor' then
  -- The supervisor's live floor, bounded: every agent with the chats it holds and its open
  -- offers, the ARGV[6] longest-waiting queued conversations and every offered one, and per
  -- topic the queued count, the oldest arrival and how many waited past ARGV[7] ms — set sizes
  -- and sorted-set ranges, never a walk of the queue.
  local limit, sla = tonumber(ARGV[6]), tonumber(ARGV[7])
  local out = {conversations = {}, counts = {}}
  local wanted, picked = {}, {}
  local function pick(cid)
    if not picked[cid] then
      picked[cid] = true
      wanted[#wanted + 1] = cid
    end
  end
  out.agents = agents_of(redis.call('SMEMBERS', L.k('agents')))
  for _, a in ipairs(out.agents) do
    for _, o in ipairs(a.offers) do
      if o.conversation_id then pick(o.conversation_id) end
    end
    for _, cid in ipairs(a.active) do pick(cid) end
  end
  local oldest = {}
  for _, nt in ipairs(L.topic_names()) do
    local name = nt[1]
    local z = redis.call('ZRANGE', L.k('qa', name), 0, limit - 1, 'WITHSCORES')
    for i = 1, #z, 2 do oldest[#oldest + 1] = {z[i], tonumber(z[i + 1])} end
    out.counts[name] = {queued = redis.call('ZCARD', L.k('q', name)),
      oldest = tonumber(z[2] or '') or cjson.null,
      breaching = redis.call('ZCOUNT', L.k('qa', name), '-inf', '(' .. L.fmt(L.now - sla))}
  end
  table.sort(oldest, function(x, y)
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[1] < y[1]
  end)
  for i = 1, math.min(limit, #oldest) do pick(oldest[i][1]) end
  for _, cid in ipairs(wanted) do
    local c = L.conv(cid)
    if c then
      out.conversations[#out.conversations + 1] = {conversation_id = cid, topic = c.topic,
        language = c.lang, priority = c.prio, arrived_at = c.arrived, state = c.state,
        agent_id = L.nul(c.agent), accepted_at = tonumber(c.accepted or ''), meta = c.meta}
    end
  end
  local waiting = redis.call('ZCARD', L.k('waiting'))
  out.active = redis.call('SCARD', L.k('convs')) - waiting - redis.call('ZCARD', L.k('offers_due'))
  return cjson.encode(out)
end

local out = {}
if ARGV[4] ~= '' then
  out.agents = agents_of({ARGV[4]})
else
  out.agents = agents_of(redis.call('SMEMBERS', L.k('agents')))
end
if mode == 'all' then
  local convs, cache = {}, {}
  for _, id in ipairs(redis.call('SMEMBERS', L.k('convs'))) do
    local c = L.conv(id)
    if c then
      local avoid = {}
      for aid in pairs(c.avoidset) do avoid[#avoid + 1] = aid end
      local pos, eta = nil, nil
      if c.state == 'waiting' then pos, eta = L.position(c, cache) end
      convs[#convs + 1] = {conversation_id = id, topic = c.topic, language = c.lang,
        priority = c.prio, arrived_at = c.arrived, state = c.state, agent_id = L.nul(c.agent),
        offer_id = L.nul(c.offer), preferred = L.nul(c.pref), avoid = avoid,
        cooldown = c.coolmap, step = c.step, position = L.nul(pos), eta_s = L.nul(eta),
        accepted_at = tonumber(c.accepted or ''), meta = c.meta}
    end
  end
  out.conversations = convs
  out.waiting = redis.call('ZRANGE', L.k('waiting'), 0, -1)
  local queues, ht = {}, {}
  for _, nt in ipairs(L.topic_names()) do
    local name = nt[1]
    queues[name] = redis.call('ZRANGE', L.k('q', name), 0, -1)
    ht[name] = redis.call('LRANGE', L.k('ht', name), 0, 49)
  end
  out.queues = queues
  out.handle_times = ht
  out.nodes = redis.call('ZRANGE', L.k('nodes'), 0, -1, 'WITHSCORES')
  out.orphans = redis.call('ZRANGE', L.k('orphans'), 0, -1, 'WITHSCORES')
  out.stats = redis.call('HGETALL', L.k('stats'))
  out.free = redis.call('SMEMBERS', L.k('free'))
end
return cjson.encode(out)
