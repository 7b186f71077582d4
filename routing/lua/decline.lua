-- decline.lua — an agent declines its offer: withdrawn, the agent cools down for this
-- conversation, and the conversation is routed again (rule 4).
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:offer:<offer id>
-- KEYS[4] P:offers_due
-- KEYS[5] P:agent:<agent id>
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] offer id
-- ARGV[5] agent id
local oid, agent_id = ARGV[4], ARGV[5]
local o = redis.call('HMGET', L.k('offer', oid), 'conv', 'agent', 'state')
if not o[1] then return L.fail('offer_not_found', 'no offer ' .. oid) end
if o[2] ~= agent_id then
  return L.fail('not_your_offer', 'offer ' .. oid .. ' was made to another agent')
end
if o[3] == 'accepted' then
  return L.fail('offer_not_found', 'offer ' .. oid .. ' was already accepted')
end
if o[3] == 'open' then
  local _, a = L.withdraw_requeue(oid, 'declined')
  if a then L.aset(a, 'streak', 0) end
end
L.rebalance()
return L.reply({})
