-- accept.lua — an agent accepts its offer: the reserved slot becomes an active chat (rule 4).
-- Past the deadline the offer is expired here (exactly once: whichever script gets there
-- first) and the call fails with offer_expired.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:offer:<offer id>
-- KEYS[4] P:offers_due
-- KEYS[5] P:agent:<agent id>
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] offer id
-- ARGV[5] agent id
local oid, agent_id = ARGV[4], ARGV[5]
local okey = L.k('offer', oid)
local o = redis.call('HMGET', okey, 'conv', 'agent', 'state', 'deadline')
if not o[1] then return L.fail('offer_not_found', 'no offer ' .. oid) end
if o[2] ~= agent_id then
  return L.fail('not_your_offer', 'offer ' .. oid .. ' was made to another agent')
end
local deadline = tonumber(o[4])
if o[3] == 'accepted' then
  return L.reply({assignment = {conversation_id = o[1], agent_id = agent_id, offer_id = oid}},
    L.decision(o[1]))
end
if o[3] == 'expired' then
  return L.fail('offer_expired', 'offer expired', {ago_s = (L.now - deadline) / 1000})
end
if o[3] ~= 'open' then
  return L.fail('offer_not_found', 'offer ' .. oid .. ' was withdrawn (' .. o[3] .. ')')
end
if L.now >= deadline then
  L.expire(oid)
  L.rebalance()
  return L.fail('offer_expired', 'offer expired', {ago_s = (L.now - deadline) / 1000,
    offers = L.offers})
end
redis.call('HSET', okey, 'state', 'accepted', 'ended', L.fmt(L.now))
redis.call('PEXPIRE', okey, TOMBSTONE_MS)
redis.call('ZREM', L.k('offers_due'), oid)
redis.call('SREM', L.k('agent', agent_id, 'offers'), oid)
redis.call('SADD', L.k('agent', agent_id, 'active'), o[1])
redis.call('HSET', L.k('agent', agent_id), 'streak', 0)
if L.A[agent_id] then L.A[agent_id].streak = 0 end
local c = {id = o[1]} -- only the state changes: no need to read the conversation
local decision = L.decision(c.id)
redis.call('HSET', L.k('conv', c.id), 'state', 'active', 'accepted', L.fmt(L.now))
L.publish({type = 'assigned', conversation_id = c.id, agent_id = agent_id, offer_id = oid})
L.record(c, 'accepted', nil, {agent_id = agent_id, offer_id = oid})
L.stat('accepted')
L.rebalance()
return L.reply({assignment = {conversation_id = c.id, agent_id = agent_id, offer_id = oid}},
  decision)
