-- reconfigure.lua — the routing configuration was edited (topics, languages, levels, steps):
-- every waiting conversation is judged again under the new one. Its relaxation step and the
-- time its options next widen are recomputed (a step added, moved or removed), and it is
-- matched against every online agent with room, as if it had just arrived — so that "no online
-- agent with room is eligible for a waiting conversation" holds under the new rules too. A
-- conversation whose topic is no longer configured keeps waiting under the fallback levels
-- (topic 1, language 1). Priority was fixed at arrival and is kept.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the new routing configuration)
-- KEYS[3] P:waiting
-- KEYS[4] P:due
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
local ids = redis.call('ZRANGE', KEYS[3], 0, -1)
for _, id in ipairs(ids) do
  local c = L.conv(id)
  if c and c.state == 'waiting' then
    L.rejudge(c, 'reconfigured')
  end
end
L.rebalance()
return L.reply({waiting = #ids})
