-- lib/offers.lua — offers made, withdrawn and expired; an agent's status changed; a chat taken
-- off its agent or ended. Part of the library shared by every routing script (see keys.lua).

-- Offers ------------------------------------------------------------------------------------

function L.offer_view(oid, c, agent_id, deadline)
  return {offer_id = oid, conversation_id = c.id, agent_id = agent_id, deadline = deadline,
    topic = c.topic, language = c.lang, arrived_at = c.arrived, meta = c.meta}
end

-- Offer conversation c to agent a: reserve capacity, publish, explain.
function L.offer(c, a, kind, ev, extra)
  L.seq = L.seq + 1
  local oid = L.token .. '-' .. L.seq
  local deadline = L.now + L.cfg.ot
  redis.call('HSET', L.k('offer', oid), 'conv', c.id, 'agent', a.id, 'deadline', L.fmt(deadline),
    'state', 'open')
  redis.call('ZADD', L.k('offers_due'), L.fmt(deadline), oid)
  redis.call('SADD', L.k('agent', a.id, 'offers'), oid)
  L.record(c, kind, ev, extra)
  L.aset(a, 'load', a.load + 1)
  L.sync(a)
  if c.state == 'waiting' then L.dequeue(c) end
  local step = c.step
  if ev then step = ev.step end
  L.cset(c, 'state', 'offered', 'agent', a.id, 'offer', oid, 'step', step)
  L.publish({type = 'offered', offer_id = oid, conversation_id = c.id, agent_id = a.id,
    node = L.nul(a.node), deadline = deadline / 1000, expires_in_s = L.cfg.ot / 1000,
    topic = c.topic, language = c.lang, arrived_at = c.arrived / 1000,
    meta = cjson.decode(c.meta)})
  local view = L.offer_view(oid, c, a.id, deadline)
  L.offers[#L.offers + 1] = view
  L.stat('offered')
  return view
end

-- Withdraw an open offer (reason: declined | expired | agent_away | agent_offline | cancelled).
-- Frees the agent's reserved slot. Returns conversation, agent, offer view (or nil if not open).
function L.withdraw(oid, reason)
  local key = L.k('offer', oid)
  local o = redis.call('HMGET', key, 'conv', 'agent', 'state', 'deadline')
  if o[3] ~= 'open' then return nil end
  redis.call('HSET', key, 'state', reason, 'ended', L.fmt(L.now))
  redis.call('PEXPIRE', key, TOMBSTONE_MS)
  redis.call('ZREM', L.k('offers_due'), oid)
  local a = L.agent(o[2])
  local c = L.conv(o[1])
  if a then
    redis.call('SREM', L.k('agent', a.id, 'offers'), oid)
    L.aset(a, 'load', a.load - 1, 'idle', L.now)
    L.sync(a)
    L.mark_freed(a)
  end
  L.publish({type = 'offer_withdrawn', offer_id = oid, conversation_id = o[1], agent_id = o[2],
    node = L.nul(a and a.node), reason = reason})
  local view = nil
  if c then
    view = L.offer_view(oid, c, o[2], tonumber(o[4]))
    if reason == 'declined' or reason == 'expired' then
      local cool = {}
      for id, e in pairs(c.coolmap) do
        if e[1] > L.now then cool[id] = e end
      end
      cool[o[2]] = {L.now + L.cfg.cd, reason}
      c.coolmap = cool
      L.cset(c, 'cool', cjson.encode(cool))
    end
    L.cset(c, 'offer', '', 'agent', '')
    L.record(c, 'withdrawn', nil, {agent_id = o[2], offer_id = oid, reason = reason})
  end
  L.stat(reason)
  return c, a, view
end

-- Withdraw and put the conversation back in its queue, to be routed again this call.
function L.withdraw_requeue(oid, reason)
  local c, a, view = L.withdraw(oid, reason)
  if c then
    L.enqueue(c)
    L.change(c, false, 'rerouted')
  end
  return c, a, view
end

-- Offer timed out: withdraw, requeue, count the agent's missed offers (2 in a row: away).
function L.expire(oid)
  local c, a, view = L.withdraw_requeue(oid, 'expired')
  if a then
    L.aset(a, 'streak', a.streak + 1)
    if a.streak >= 2 and a.status == 'online' then L.set_status(a, 'away', a.node, 'missed_offers') end
  end
  return view
end

-- Presence ----------------------------------------------------------------------------------

function L.set_status(a, status, node, why)
  local old, old_node = a.status, a.node
  if status == 'offline' then node = '' end
  if old_node ~= node then
    if old_node ~= '' then redis.call('SREM', L.k('node', old_node, 'agents'), a.id) end
    if node ~= '' then redis.call('SADD', L.k('node', node, 'agents'), a.id) end
  end
  if node ~= '' then redis.call('ZADD', L.k('nodes'), 'NX', L.fmt(L.now), node) end
  L.aset(a, 'status', status, 'node', node)
  if status == 'online' and old ~= 'online' then L.aset(a, 'idle', L.now, 'streak', 0) end
  L.sync(a)
  if status ~= 'online' then
    local reason = 'agent_away'
    if status == 'offline' then reason = 'agent_offline' end
    local oids = redis.call('SMEMBERS', L.k('agent', a.id, 'offers'))
    table.sort(oids)
    for _, oid in ipairs(oids) do L.withdraw_requeue(oid, reason) end
  end
  if old == 'offline' and status ~= 'offline' then
    for _, cid in ipairs(redis.call('SMEMBERS', L.k('agent', a.id, 'active'))) do
      redis.call('ZREM', L.k('orphans'), cid)
    end
  elseif status == 'offline' and old ~= 'offline' then
    for _, cid in ipairs(redis.call('SMEMBERS', L.k('agent', a.id, 'active'))) do
      redis.call('ZADD', L.k('orphans'), L.fmt(L.now + L.cfg.gr), cid)
    end
  end
  if status == 'online' then
    L.mark_freed(a)
  elseif old == 'online' then
    L.widen_for(a)
  end
  if old ~= status or old_node ~= node then
    local ev = {type = 'presence', agent_id = a.id, status = status, node = L.nul(node)}
    if status == 'offline' then ev.node = L.nul(old_node) end
    if why then ev.reason = why end
    L.publish(ev)
  end
end

-- Take an active conversation off its agent (release, transfer, requeue after grace).
function L.unassign(c)
  local a = L.agent_for(c.agent, c.topic, c.lang)
  if a then
    if redis.call('SREM', L.k('agent', a.id, 'active'), c.id) == 1 then
      L.aset(a, 'load', a.load - 1, 'idle', L.now)
      L.sync(a)
      L.mark_freed(a)
    end
  end
  if not a or a.status == 'offline' then redis.call('ZREM', L.k('orphans'), c.id) end
  return a
end

-- End a conversation in any state. mode: "release" (chat ended) or "cancel" (visitor left).
function L.end_conv(c, mode)
  if c.state == 'active' then
    local agent_id = c.agent
    L.unassign(c)
    local handle = L.now - (tonumber(c.accepted or '') or L.now)
    if handle < 0 then handle = 0 end
    local key = L.k('ht', c.topic)
    if redis.call('LPUSH', key, L.fmt(handle)) > 50 then redis.call('LTRIM', key, 0, 49) end
    L.publish({type = 'released', conversation_id = c.id, agent_id = agent_id})
    L.record(c, 'released', nil, {agent_id = agent_id, handle_s = handle / 1000})
    L.stat('released')
  else
    if c.state == 'offered' then
      L.withdraw(c.offer, 'cancelled')
    elseif c.state == 'waiting' then
      L.dequeue(c)
    end
    L.record(c, 'cancelled', nil, {by = mode})
    L.stat('abandoned')
  end
  L.delete_conv(c)
end
