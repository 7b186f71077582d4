-- lib/matching.lua — what every state-changing script ends with: time-driven widening, the
-- matching pass in queue order, new queue heads announced; then the script's answer (L.reply,
-- L.fail) and, last of the library, the call to L.init that starts every script. Part of the
-- library shared by every routing script (see keys.lua).

-- Matching ----------------------------------------------------------------------------------

-- Try one waiting (or new) conversation against every agent. Returns the offer or nil.
function L.route(c, quiet, kind)
  local ev = L.evaluate(c)
  if ev.winner then return L.offer(c, ev.winner, 'offer', ev), ev end
  if c.state == 'waiting' then L.place(c) end
  if not quiet then L.record(c, kind or 'queued', ev) end
  return nil, ev
end

local function before(x_score, x_id, y_score, y_id)
  if x_score ~= y_score then return x_score < y_score end
  return x_id < y_id
end

local function by_score(x, y)
  return before(x.score, x.id, y.score, y.id)
end

-- The first waiting conversation, in queue order, that a free agent is eligible for: the
-- earliest of the heads of the waiting sets of the classes it meets (skipping conversations
-- that name it avoided, cooling down, or wait for their preferred agent). nil if none.
function L.first_for(a)
  local best, best_score = nil, nil
  for K in string.gmatch(a.cls, '%S+') do
    local key, i = L.k('cw', K), 0
    local done = false
    while not done do
      local z = redis.call('ZRANGE', key, i, i + 7, 'WITHSCORES')
      if #z == 0 then break end
      for j = 1, #z, 2 do
        local id, score = z[j], tonumber(z[j + 1])
        if best and not before(score, id, best_score, best) then
          done = true
          break
        end
        local c = L.conv(id)
        if c and c.state == 'waiting' and L.open_to(c, a) then
          best, best_score = id, score
          done = true
          break
        end
      end
      i = i + 8
    end
  end
  return best, best_score
end

-- The matching pass, run once at the end of every state-changing script, in queue order
-- (priority, then arrival, across topics) over the union of
--   * every conversation whose options widened during the call (new, requeued, relaxed, a
--     window or cooldown ended …): routed against every agent; and
--   * for each agent that gained room (or came online, or gained skills), the first waiting
--     conversation it is eligible for (L.first_for): routed, as the earliest one it can take.
-- One pass in one order is what makes "each agent is offered the first waiting conversation
-- it is eligible for" hold when several things changed at once. Before the call no agent with
-- room was eligible for a waiting conversation; what changed is all in the pass, so the same
-- holds after it.
function L.match()
  local free = {}
  if redis.call('ZCARD', L.k('waiting')) > 0 then
    for _, id in ipairs(L.freed_list) do
      local a = L.agent(id)
      if a and a.status == 'online' and a.load < a.capacity then free[#free + 1] = a end
    end
  end
  local pend = {}
  for _, id in ipairs(L.changed_list) do
    local c = L.conv(id)
    if c and c.state == 'waiting' then pend[#pend + 1] = c end
  end
  if #free == 0 and #pend == 0 then return end
  table.sort(pend, by_score)
  local firsts, pi = {}, 1
  while true do
    while pend[pi] and pend[pi].state ~= 'waiting' do pi = pi + 1 end
    local best, via = pend[pi], nil
    for _, a in ipairs(free) do
      if a.status == 'online' and a.load < a.capacity then
        local f = firsts[a.id]
        if f and L.C[f[1]] and L.C[f[1]].state ~= 'waiting' then f = nil end
        if f == nil then
          local id, score = L.first_for(a)
          f = false
          if id then f = {id, score} end
          firsts[a.id] = f
        end
        if f and (not best or before(f[2], f[1], best.score, best.id)) then
          best, via = L.conv(f[1]), a
        end
      end
    end
    if not best then break end
    if best == pend[pi] then
      pi = pi + 1
      local ch = L.changed[best.id]
      L.route(best, ch.quiet, ch.kind)
    elseif not L.route(best, true) then
      firsts[via.id] = false -- not expected: first_for found it open to this agent
    end
  end
end

-- Time-driven widening: relaxation steps, preferred windows and cooldowns that came due.
function L.advance()
  if L.advanced then return end
  L.advanced = true
  local due = redis.call('ZRANGEBYSCORE', L.k('due'), '-inf', L.fmt(L.now), 'LIMIT', 0, BATCH)
  for _, id in ipairs(due) do
    local c = L.conv(id)
    if c and c.state == 'waiting' then
      L.rejudge(c, 'relaxed')
    else
      redis.call('ZREM', L.k('due'), id)
    end
  end
end

-- A topic whose queue head changed announces its new first at once (position 1); the other
-- positions are read when asked (ZRANK), by the hubs for their own visitors.
function L.announce_heads()
  for topic in pairs(L.dirty) do
    local head = redis.call('ZRANGE', L.k('q', topic), 0, 0)[1]
    local last = redis.call('HGET', L.k('heads'), topic) or nil
    if head ~= last then
      if head then
        redis.call('HSET', L.k('heads'), topic, head)
        local lang = redis.call('HGET', L.k('conv', head), 'lang')
        L.publish({type = 'queue', conversation_id = head, position = 1,
          eta_s = L.nul(L.eta(topic, lang, 1))})
      else
        redis.call('HDEL', L.k('heads'), topic)
      end
    end
  end
end

-- Run at the end of every state-changing script: widen by time, match (see L.match), and
-- announce new queue heads. Afterwards no online agent with room is eligible for a waiting
-- conversation.
function L.rebalance()
  L.ready()
  L.advance()
  L.match()
  L.announce_heads()
end

-- The decision record behind the conversation's current offer (the last one recorded).
local function is_decision(text)
  return string.find(text, '"kind":"offer"', 1, true) or
    string.find(text, '"kind":"transfer"', 1, true)
end

function L.decision(cid)
  local key = L.k('explain', cid)
  local last = redis.call('LINDEX', key, -1)
  if last and is_decision(last) then return last end
  local all = redis.call('LRANGE', key, 0, -1)
  for i = #all, 1, -1 do
    if is_decision(all[i]) then return all[i] end
  end
  return '{}'
end

-- The script's answer: JSON; a raw JSON text (a decision record) may ride along unescaped.
function L.reply(t, raw)
  t.offers = L.offers
  if raw then return {cjson.encode(t), raw} end
  return cjson.encode(t)
end

function L.fail(code, msg, extra)
  local t = {err = code, msg = msg}
  if extra then
    for key, v in pairs(extra) do t[key] = v end
  end
  return cjson.encode(t)
end

L.init(KEYS, ARGV)
