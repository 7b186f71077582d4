-- restore.lua — after Redis lost its data: put an active conversation back on its agent
-- (load + 1, even beyond capacity) without routing. An offline agent's restored chat is
-- requeued after grace_s like any other (rule 7).
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:conv:<id>
-- KEYS[4] P:agent:<agent id>
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] conversation id   ARGV[5] topic   ARGV[6] language   ARGV[7] priority
-- ARGV[8] preferred agent or ""   ARGV[9] avoid JSON list   ARGV[10] meta JSON
-- ARGV[11] agent id
local a = L.agent(ARGV[11])
if not a then return L.fail('unknown_agent', 'unknown agent ' .. ARGV[11]) end
local c = L.conv(ARGV[4])
if c then
  if c.state == 'active' and c.agent == a.id then return L.reply({}) end
  return L.fail('conflict', 'conversation ' .. c.id .. ' already exists (' .. c.state .. ')')
end
c = L.new_conv(ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), L.now, ARGV[8], ARGV[9], ARGV[10])
L.cset(c, 'state', 'active', 'agent', a.id, 'accepted', L.fmt(L.now))
redis.call('SADD', L.k('agent', a.id, 'active'), c.id)
L.aset(a, 'load', a.load + 1)
L.sync(a)
if a.status == 'offline' then
  redis.call('ZADD', L.k('orphans'), L.fmt(L.now + L.cfg.gr), c.id)
end
L.publish({type = 'assigned', conversation_id = c.id, agent_id = a.id, offer_id = cjson.null,
  restored = true})
L.record(c, 'restored', nil, {agent_id = a.id})
L.rebalance()
return L.reply({})
