-- tick.lua — time-driven work, called about every second by every hub node; each item is
-- processed exactly once whichever node gets there first (the script is atomic and removes
-- what it handles):
--   1. offers past their deadline expire: withdrawn, the agent cools down for that
--      conversation, it is routed again; an agent whose 2nd offer in a row expires goes away;
--   2. nodes silent for heartbeat_timeout_s are dead: their agents go offline (open offers
--      withdrawn, active chats scheduled for requeue after grace_s);
--   3. active chats of agents still offline after grace_s are requeued with their arrival time;
--   4. relaxation steps, preferred windows and cooldowns that came due widen eligibility.
-- At most 100 items of each kind per call (BATCH); the rest wait for the next tick.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:offers_due
-- KEYS[4] P:nodes
-- KEYS[5] P:orphans
-- KEYS[6] P:due
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
local expired = {}
local due = redis.call('ZRANGEBYSCORE', L.k('offers_due'), '-inf', L.fmt(L.now), 'LIMIT', 0, BATCH)
for _, oid in ipairs(due) do
  local view = L.expire(oid)
  if view then expired[#expired + 1] = view end
end
local dead = {}
local silent = redis.call('ZRANGEBYSCORE', L.k('nodes'), '-inf', L.fmt(L.now - L.cfg.hb),
  'LIMIT', 0, BATCH)
for _, node in ipairs(silent) do
  redis.call('ZREM', L.k('nodes'), node)
  local ids = redis.call('SMEMBERS', L.k('node', node, 'agents'))
  table.sort(ids)
  for _, id in ipairs(ids) do
    local a = L.agent(id)
    if a and a.node == node and a.status ~= 'offline' then
      L.set_status(a, 'offline', '', 'node_dead')
    end
  end
  redis.call('DEL', L.k('node', node, 'agents'))
  dead[#dead + 1] = node
end
local requeued = {}
local orphans = redis.call('ZRANGEBYSCORE', L.k('orphans'), '-inf', L.fmt(L.now), 'LIMIT', 0, BATCH)
for _, id in ipairs(orphans) do
  redis.call('ZREM', L.k('orphans'), id)
  local c = L.conv(id)
  if c and c.state == 'active' then
    local agent_id = c.agent
    L.unassign(c)
    L.publish({type = 'requeued', conversation_id = id, agent_id = agent_id,
      reason = 'agent_offline'})
    L.record(c, 'requeued', nil, {agent_id = agent_id, reason = 'agent_offline'})
    L.cset(c, 'accepted', '')
    L.enqueue(c)
    L.change(c, false, 'queued')
    L.stat('requeued')
    requeued[#requeued + 1] = id
  end
end
L.rebalance()
return L.reply({expired = expired, requeued = requeued, dead_nodes = dead})
