-- Publish one payload to every hub node that holds a participant of a conversation.
-- KEYS[1]  the conversation's interest set ({prefix}:cn:<conversation_id>): node ids
-- ARGV[1]  channel prefix ("{prefix}:node:"), the node id is appended
-- ARGV[2]  the payload
-- ARGV[3]  the publishing node's id (it delivers locally and is skipped here)
-- Returns the number of nodes published to.
local nodes = redis.call('SMEMBERS', KEYS[1])
local n = 0
for _, node in ipairs(nodes) do
  if node ~= ARGV[3] then
    redis.call('PUBLISH', ARGV[1] .. node, ARGV[2])
    n = n + 1
  end
end
return n
