-- upsert_agent.lua — create an agent or replace its skills and capacity; status and load are
-- kept. An online agent whose skills or capacity changed is matched against the queue.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:agent:<id>
-- KEYS[4] P:free
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] agent id
-- ARGV[5] skills as JSON {"billing": 5, "en": 3}
-- ARGV[6] capacity
-- Touches at run time: P:skill:<skill> for old and new skills, and whatever rebalancing
-- touches (all under the same prefix, hence the same hash tag).
local id = ARGV[4]
local skills = cjson.decode(ARGV[5])
local capacity = tonumber(ARGV[6])
local a = L.agent(id) or L.new_agent(id)
local changed = false
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
if a.capacity ~= capacity then
  L.aset(a, 'capacity', capacity)
  changed = true
end
L.sync_free(a)
if changed and a.status == 'online' then
  L.full = true
  L.dirty_all()
end
L.rebalance()
return L.reply({})
