-- release.lua — the chat ended: the agent's slot frees (it gets the first waiting conversation
-- it is eligible for) and the handle time feeds the wait estimate. A conversation still
-- waiting or offered is simply withdrawn.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:conv:<id>
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] conversation id
local c = L.conv(ARGV[4])
if not c then return L.fail('unknown_conversation', 'unknown conversation ' .. ARGV[4]) end
L.end_conv(c, 'release')
L.rebalance()
return L.reply({})
