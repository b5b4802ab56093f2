-- Take a lock and draw its fencing token in one round trip.
-- KEYS[1] lock key, KEYS[2] fence counter (same hash tag)
-- ARGV[1] lock value, ARGV[2] lock TTL (ms), ARGV[3] fence retention (ms)
-- Returns {1, token} when taken, {0, pttl, holder's value} when another
-- holder has it. The token is max(counter + 1, server time in
-- microseconds), so it keeps rising even after the counter expires.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
  local tok = cur + 1
  if now > tok then tok = now end
  redis.call('SET', KEYS[2], tok, 'PX', ARGV[3])
  return {1, tok}
end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  -- Our own value: this call already took the lock and is being run again
  -- (go-redis resends a command whose connection broke before the reply).
  -- Answer as the first run did, with the token it drew.
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
return {0, redis.call('PTTL', KEYS[1]), holder}
