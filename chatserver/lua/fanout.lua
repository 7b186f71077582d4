-- Publish a batch of payloads, each to every hub node interested in its conversation.
-- KEYS[i]   the interest set of payload i's conversation ({prefix}:cn:<conversation_id>)
-- ARGV[1]   channel prefix ("{prefix}:node:"), the node id is appended
-- ARGV[2]   the publishing node's id (it delivers locally and is skipped here)
-- ARGV[2+i] payload i
-- Returns the number of publications.
local n = 0
for i, key in ipairs(KEYS) do
  local nodes = redis.call('SMEMBERS', key)
  for _, node in ipairs(nodes) do
    if node ~= ARGV[2] then
      redis.call('PUBLISH', ARGV[1] .. node, ARGV[2 + i])
      n = n + 1
    end
  end
end
return n
