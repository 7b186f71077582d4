-- set_capacity.lua — change how many chats an agent takes at once. More room is offered
-- waiting work at once; less room never drops anything held (no new offers until load < capacity).
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:agent:<id>
-- KEYS[4] P:free
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] agent id
-- ARGV[5] capacity
local a = L.agent(ARGV[4])
if not a then return L.fail('unknown_agent', 'unknown agent ' .. ARGV[4]) end
local capacity = tonumber(ARGV[5])
if capacity ~= a.capacity then
  local grew = capacity > a.capacity
  L.aset(a, 'capacity', capacity)
  L.sync(a)
  if grew and a.status == 'online' then L.mark_freed(a) end
end
L.rebalance()
return L.reply({})
