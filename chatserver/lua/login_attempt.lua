-- A sign-in attempt asks to go ahead (chatserver/web/login_throttle.py). Each key is a hash
-- {fails, until}: `fails` counts failed and in-flight attempts, `until` (ms) is when the next may
-- come. Blocked if any key's `until` is still ahead: nothing is counted, the wait is returned.
-- Else every key counts the attempt, and a key past its free attempts is blocked for
-- min(cap, base * 2^(fails - free - 1)) — exponential back-off after a few failures.
-- KEYS[i]        one counter (the account from this address, the address, the account)
-- ARGV[1]        now (ms)
-- ARGV[2]        how long an idle counter is kept (ms)
-- ARGV[2+3i-2]   free attempts of KEYS[i]
-- ARGV[2+3i-1]   first wait of KEYS[i] (ms)
-- ARGV[2+3i]     longest wait of KEYS[i] (ms)
-- Returns 0 (go ahead) or the wait in ms.
local now = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local wait = 0
for _, key in ipairs(KEYS) do
  local untl = tonumber(redis.call('HGET', key, 'until') or '0')
  if untl > now and untl - now > wait then wait = untl - now end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local free = tonumber(ARGV[2 + 3 * i - 2])
  local base = tonumber(ARGV[2 + 3 * i - 1])
  local cap = tonumber(ARGV[2 + 3 * i])
  local fails = redis.call('HINCRBY', key, 'fails', 1)
  if fails > free then
    local delay = math.min(cap, base * 2 ^ math.min(fails - free - 1, 30))
    redis.call('HSET', key, 'until', now + delay)
  end
  redis.call('PEXPIRE', key, keep)
end
return 0
