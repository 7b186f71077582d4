-- drain.lua — the calling hub node is draining (SIGTERM before a restart): every agent bound
-- to it that is online goes away. Each keeps its chats, gets no new offers, and its open
-- offers are withdrawn (agent_away) and routed again — to agents of other nodes. No status
-- frame is asked for (the presence event has no reason): the agent's console keeps the
-- status it wants and asks for it again on the node it reconnects to. Bounded by the node's
-- own agents.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:node:<node>:agents
-- KEYS[4] P:free
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
local ids = redis.call('SMEMBERS', L.k('node', L.node, 'agents'))
table.sort(ids)
local drained = {}
for _, id in ipairs(ids) do
  local a = L.agent(id)
  if a and a.node == L.node and a.status == 'online' then
    L.set_status(a, 'away', L.node)
    drained[#drained + 1] = id
  end
end
L.rebalance()
return L.reply({drained = drained})
