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
return {0, redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[1])}
