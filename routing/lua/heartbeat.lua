-- heartbeat.lua — the calling hub node is alive (rule 7). Nodes that stop calling this are
-- declared dead by tick.lua after heartbeat_timeout_s. No event is published.
-- KEYS[1] P:agents (prefix anchor)
-- KEYS[2] P:config:<sha1> (the routing configuration)
-- KEYS[3] P:nodes
-- ARGV[1] now (ms)   ARGV[2] token   ARGV[3] node id
redis.call('ZADD', L.k('nodes'), L.fmt(L.now), L.node)
return L.reply({})
