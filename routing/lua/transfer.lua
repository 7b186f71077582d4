-- transfer.lua — move a conversation: straight to a named agent (online with room; skills not
-- required, a human chose), or back to a queue (optionally another topic's) keeping its arrival
-- time. The previous holder is avoided.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:conv:<id>
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] conversation id
-- ARGV[5] target agent id or ""
-- ARGV[6] target topic or ""
local c = L.conv(ARGV[4])
if not c then return L.fail('unknown_conversation', 'unknown conversation ' .. ARGV[4]) end
local target = nil
if ARGV[5] ~= '' then
  target = L.agent(ARGV[5])
  if not target then return L.fail('unknown_agent', 'unknown agent ' .. ARGV[5]) end
  if target.status ~= 'online' then
    return L.fail('agent_unavailable', 'agent ' .. target.id .. ' is ' .. target.status)
  end
  if c.state == 'active' and c.agent == target.id then
    return L.fail('agent_unavailable', 'agent ' .. target.id .. ' already holds ' .. c.id)
  end
  if target.load >= target.capacity then
    return L.fail('agent_unavailable',
      'agent ' .. target.id .. ' is full ' .. target.load .. '/' .. target.capacity)
  end
end
local prev = ''
if c.state == 'active' then
  prev = c.agent
  L.unassign(c)
  L.publish({type = 'requeued', conversation_id = c.id, agent_id = prev, reason = 'transfer'})
elseif c.state == 'offered' then
  L.withdraw(c.offer, 'cancelled')
elseif c.state == 'waiting' then
  L.dequeue(c)
end
if prev ~= '' then
  c.avoidset[prev] = true
  local list = {}
  for aid in pairs(c.avoidset) do list[#list + 1] = aid end
  table.sort(list)
  L.cset(c, 'avoid', cjson.encode(list))
end
if ARGV[6] ~= '' then L.cset(c, 'topic', ARGV[6]) end
L.cset(c, 'accepted', '')
L.stat('transfers')
if target then
  L.offer(c, target, 'transfer', nil, {from_agent = L.nul(prev), winner = target.id})
else
  L.record(c, 'transfer', nil, {from_agent = L.nul(prev), to_topic = L.nul(ARGV[6])})
  L.enqueue(c)
  L.change(c, false, 'queued')
end
L.rebalance()
local out = {conversation_id = c.id}
if c.state == 'offered' then
  out.status = 'offered'
  for _, o in ipairs(L.offers) do
    if o.conversation_id == c.id then out.offer = o end
  end
else
  out.status = 'queued'
  local pos, eta = L.position(c)
  out.position = L.nul(pos)
  out.eta_s = L.nul(eta)
end
out.agents_online = redis.call('SCARD', L.k('on', c.topic))
return cjson.encode(out) -- its own offer is in out.offer
