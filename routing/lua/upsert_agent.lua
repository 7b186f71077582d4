-- upsert_agent.lua — create an agent or replace its skills and capacity; status and load are
-- kept. An online agent whose skills or capacity changed is matched against the queue, and
-- conversations it may have kept from others (its preferred window, cooldowns) are judged again.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:agent:<id>
-- KEYS[4] P:free
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] agent id
-- ARGV[5] skills as JSON {"billing": 5, "en": 3}
-- ARGV[6] capacity
-- Touches at run time: P:skill:<skill> for old and new skills, the class indexes the agent
-- enters or leaves, and whatever rebalancing touches (all under the same prefix, hence the
-- same hash tag).
local id = ARGV[4]
local skills = cjson.decode(ARGV[5])
local capacity = tonumber(ARGV[6])
L.ready()
local a = L.agent(id)
local changed = a == nil -- a new agent: its classes (those requiring nothing) are computed
a = a or L.new_agent(id)
for s in pairs(a.s) do
  if skills[s] == nil then
    redis.call('HDEL', L.k('agent', id), 's:' .. s)
    redis.call('SREM', L.k('skill', s), id)
    changed = true
  end
end
for s, lv in pairs(skills) do
  if a.s[s] ~= lv then
    redis.call('HSET', L.k('agent', id), 's:' .. s, lv)
    redis.call('SADD', L.k('skill', s), id)
    changed = true
  end
end
a.s = skills
if changed then
  local names = {}
  for s in pairs(skills) do names[#names + 1] = s end
  table.sort(names)
  L.aset(a, 'sks', table.concat(names, ' '), 'cls', L.classes_of(a))
end
if a.capacity ~= capacity then
  L.aset(a, 'capacity', capacity)
  changed = true
end
L.sync(a)
if changed and a.status == 'online' then
  L.mark_freed(a)
  L.widen_for(a)
end
L.rebalance()
return L.reply({})
