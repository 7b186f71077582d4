-- request.lua — a conversation asks for an agent (rules 1–3, 6). It is offered to the best
-- eligible agent at once, or waits in its topic's queue. Asking again for a conversation that
-- is waiting or offered answers its current state.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:conv:<id>
-- KEYS[4] P:q:<topic>
-- KEYS[5] P:waiting
-- KEYS[6] P:on:<topic>
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] conversation id
-- ARGV[5] topic
-- ARGV[6] language
-- ARGV[7] priority
-- ARGV[8] preferred agent id or ""
-- ARGV[9] agents to avoid, JSON list
-- ARGV[10] meta, JSON object (opaque)
local id = ARGV[4]

local function answer(c)
  local out = {conversation_id = c.id, agents_online = redis.call('SCARD', L.k('on', c.topic))}
  if c.state == 'offered' then
    out.status = 'offered'
    for _, o in ipairs(L.offers) do
      if o.conversation_id == c.id then out.offer = o end
    end
    if not out.offer then
      local deadline = redis.call('HGET', L.k('offer', c.offer), 'deadline')
      out.offer = L.offer_view(c.offer, c, c.agent, tonumber(deadline))
    end
  else
    out.status = 'queued'
    local pos, eta = L.position(c)
    out.position = L.nul(pos)
    out.eta_s = L.nul(eta)
  end
  return cjson.encode(out) -- its own offer is in out.offer
end

local c = L.conv(id)
if c then
  if c.state == 'waiting' or c.state == 'offered' then return answer(c) end
  return L.fail('already_assigned', 'conversation ' .. id .. ' is already ' .. c.state)
end
c = L.new_conv(id, ARGV[5], ARGV[6], tonumber(ARGV[7]), L.now, ARGV[8], ARGV[9], ARGV[10])
L.stat('requests')
L.advance()
if #L.changed_list == 0 then
  -- Nothing else widened: no free agent is eligible for anything already waiting, so this
  -- conversation can be judged on its own.
  if not L.route(c, false, 'queued') then L.enqueue(c) end
else
  L.enqueue(c)
  L.change(c, false, 'queued')
end
L.rebalance()
return answer(c)
