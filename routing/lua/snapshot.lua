-- snapshot.lua — read-only: one consistent picture of the routing state, for agents(),
-- queue(), stats(), pending offers and invariant checks. Changes nothing, publishes nothing.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] one agent id, or "" for all agents
-- ARGV[5] "agents" (agents only) or "all"
local out = {agents = {}}
local ids
if ARGV[4] ~= '' then ids = {ARGV[4]} else ids = redis.call('SMEMBERS', L.k('agents')) end
table.sort(ids)
for _, id in ipairs(ids) do
  local a = L.agent(id)
  if a then
    local offers = {}
    for _, oid in ipairs(redis.call('SMEMBERS', L.k('agent', id, 'offers'))) do
      local o = redis.call('HMGET', L.k('offer', oid), 'conv', 'deadline')
      offers[#offers + 1] = {offer_id = oid, conversation_id = o[1], deadline = tonumber(o[2])}
    end
    out.agents[#out.agents + 1] = {agent_id = id, status = a.status, node = L.nul(a.node),
      capacity = a.capacity, load = a.load, idle_since = a.idle, streak = a.streak, skills = a.s,
      active = redis.call('SMEMBERS', L.k('agent', id, 'active')), offers = offers}
  end
end
if ARGV[5] == 'all' then
  local convs = {}
  for _, id in ipairs(redis.call('SMEMBERS', L.k('convs'))) do
    local c = L.conv(id)
    if c then
      local avoid = {}
      for aid in pairs(c.avoidset) do avoid[#avoid + 1] = aid end
      convs[#convs + 1] = {conversation_id = id, topic = c.topic, language = c.lang,
        priority = c.prio, arrived_at = c.arrived, state = c.state, agent_id = L.nul(c.agent),
        offer_id = L.nul(c.offer), preferred = L.nul(c.pref), avoid = avoid,
        cooldown = c.coolmap, step = c.step, position = L.nul(c.pos), eta_s = L.nul(c.eta),
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
