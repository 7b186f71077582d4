-- lib/keys.lua — the first part of the library shared by every routing script: the calling
-- convention, the key layout, the call's state (L.init), key names and small encoders. Not a
-- script of its own: the loader (routing/_scripts.py) joins lib/*.lua in a fixed order —
-- keys, classes, agents, conversations, eligibility, offers, matching — and puts the text in
-- front of each script file before register_script, so every registered script is one
-- self-contained, atomic EVALSHA. The locals declared here (L and the constants) are seen by
-- every later part; matching.lua, the last one, ends by calling L.init(KEYS, ARGV).
--
-- Calling convention of every script:
--   KEYS[1]  <P>:agents — the prefix P (with its hash tag, e.g. "{cs}") is derived from it
--   KEYS[2]  <P>:config:<sha1> — the routing configuration, stored once by the caller under
--            the SHA-1 of its text: a hash of small JSON texts — "base" (timeouts), "names"
--            ([[topic, relaxes-to-any-agent]…]) and "t:<topic>" (levels and steps), so a call
--            decodes only what it uses. Missing (Redis lost its data): the script stops with
--            a NOCONFIG error before writing anything, and the caller stores it and retries.
--   KEYS[3…] the keys the call names up front (agent, conversation, offer, queue …)
--   ARGV[1]  now, integer milliseconds
--   ARGV[2]  a token unique to the call (offer ids made by the call are "<token>-<n>")
--   ARGV[3]  the calling hub node id
--   ARGV[4…] the operation's own arguments
-- Keys discovered while the script runs (another agent's hash, a waiting conversation …) are
-- built from the same prefix, so they carry the same hash tag and hash to the same cluster slot.
--
-- Key layout (P = prefix):
--   P:agents              set   every known agent id
--   P:free                set   online agents with load < capacity
--   P:away                set   agents away
--   P:skill:<skill>       set   agents having <skill> at level >= 1
--   P:on:<skill>          set   online agents having <skill>; P:on:* every online agent
--   P:sk                  hash  cap:<skill> load:<skill> — summed over P:on:<skill> (and *)
--   P:agent:<id>          hash  status node capacity load idle streak s:<skill>=<level>,
--                               sks (its skill names) and cls (the classes it qualifies for)
--   P:agent:<id>:active   set   conversations the agent holds
--   P:agent:<id>:offers   set   open offers reserved on the agent
--   P:agent:<id>:pref     set   waiting conversations naming the agent preferred, in the window
--   P:convs               set   live conversation ids
--   P:conv:<id>           hash  topic lang prio arrived state meta, and as they apply: agent
--                               offer pref avoid cool step cls accepted
--   P:waiting             zset  waiting conversations, score = -prio * 2^42 + arrived_ms
--   P:q:<topic>           zset  the same per topic: position = ZRANK + 1
--   P:qa:<topic>          zset  the same per topic, scored by arrival (longest wait)
--   P:heads               hash  topic -> the conversation last announced first of its queue
--   P:due                 zset  waiting conversation -> when its eligibility next widens
--                               (relaxation step, end of preferred window, end of a cooldown)
--   P:coolers             set   waiting conversations with a cooldown on some agent
--   P:offer:<id>          hash  conv agent deadline state ended (kept 1 h once closed)
--   P:offers_due          zset  open offer -> deadline
--   P:nodes               zset  hub node -> last heartbeat
--   P:node:<node>:agents  set   agents whose socket that node holds
--   P:orphans             zset  active conversation of an offline agent -> when it is requeued
--   P:ht:<topic>          list  last 50 handle times (ms), newest first
--   P:explain:<id>        list  last 20 decision records (JSON), oldest first
--   P:stats               hash  counters
--   P:config:<sha1>       hash  a routing configuration, one per distinct configuration
--   P:events              pub/sub channel (not a key)
--
-- Requirement classes. What a conversation requires at its step in force is a class
-- "<topic>|<topic level>|<language>|<language level>" (topic "*" when the topic level is 0,
-- language "*" when the language level is 0), e.g. "billing|2|es|1" or "*|0|es|1". The
-- configuration lists its classes (every topic x step x language); each one is indexed:
--   P:classes             set   every indexed class
--   P:co:<class>          set   online agents whose skills meet the class
--   P:cf:<class>          zset  the same with room (load < capacity), score =
--                               floor(load * 2^32 / capacity), member = "<idle ms, 15
--                               digits>:<agent id>": the first member is rule 2's choice
--   P:ccap                hash  class -> summed capacity of P:co:<class> (wait estimates)
--   P:cw:<class>          zset  waiting conversations requiring exactly the class, by score
-- So a decision reads the head of one sorted set, and a freed agent reads the head of the
-- waiting set of each class it qualifies for: neither walks the floor nor the queue.

local L = {}
local TWO42 = 4398046511104
local TWO32 = 4294967296
local EXPLAIN_KEEP = 20
local CANDIDATES_KEEP = 10
local TOMBSTONE_MS = 3600000
local EXPLAIN_TTL_MS = 86400000
local BATCH = 100

function L.init(keys, argv)
  local anchor = keys[1]
  L.P = string.sub(anchor, 1, #anchor - 7)
  L.now = tonumber(argv[1])
  L.ts = L.now / 1000
  local base = redis.call('HGET', keys[2], 'base')
  if not base then return error('NOCONFIG routing configuration ' .. keys[2] .. ' missing') end
  -- Decoded on first use: many calls (accept, release …) never need it.
  L.cfg_key = keys[2]
  L.cfg = setmetatable({}, {__index = function(t, key)
    setmetatable(t, nil)
    for k, v in pairs(cjson.decode(base)) do rawset(t, k, v) end
    return rawget(t, key)
  end})
  L.topics = {}
  L.names = nil
  L.token = argv[2]
  L.node = argv[3]
  L.seq = 0
  L.A = {}
  L.C = {}
  L.offers = {}
  L.dirty = {}
  L.freed = {}
  L.freed_list = {}
  L.changed = {}
  L.changed_list = {}
  L.advanced = false
  L.is_ready = false
  L.built = {}
  L.class_list = nil
end

function L.k(a, b, c)
  if c then return L.P .. ':' .. a .. ':' .. b .. ':' .. c end
  if b then return L.P .. ':' .. a .. ':' .. b end
  return L.P .. ':' .. a
end

function L.publish(ev)
  ev.ts = L.ts
  redis.call('PUBLISH', L.P .. ':events', cjson.encode(ev))
end

function L.nul(v)
  if v == nil or v == '' then return cjson.null end
  return v
end

function L.stat(name, n)
  redis.call('HINCRBY', L.k('stats'), name, n or 1)
end

function L.fmt(n)
  return string.format('%.0f', n)
end
