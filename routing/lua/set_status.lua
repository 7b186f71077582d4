-- set_status.lua — an agent goes online, away or offline (rules 3 and 7).
-- online/away bind the agent to the calling node; online offers it waiting work; away and
-- offline withdraw its open offers and route them again; offline also schedules its active
-- conversations to be requeued after grace_s unless it comes back first.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:agent:<id>
-- KEYS[4] P:free
-- KEYS[5] P:orphans
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] agent id
-- ARGV[5] status: online | away | offline
local a = L.agent(ARGV[4])
if not a then return L.fail('unknown_agent', 'unknown agent ' .. ARGV[4]) end
L.set_status(a, ARGV[5], L.node)
L.rebalance()
return L.reply({})
