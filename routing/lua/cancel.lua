-- cancel.lua — the visitor left while waiting or offered (abandonment): leave the queue or
-- withdraw the offer (reason "cancelled"). An active conversation is released.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:conv:<id>
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
-- ARGV[4] conversation id
local c = L.conv(ARGV[4])
if not c then return L.fail('unknown_conversation', 'unknown conversation ' .. ARGV[4]) end
L.end_conv(c, 'cancel')
L.rebalance()
return L.reply({})
