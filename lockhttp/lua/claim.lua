-- Claim an idempotency key, or return what holds it.
-- KEYS[1] record; ARGV[1] running record (ours); ARGV[2] TTL (ms)
-- Returns {1} when claimed, {0, record, pttl} when a record exists.
-- ARGV[1] is unique to the request, so finding it means this claim is
-- being run again (go-redis resends a command whose connection broke
-- before the reply): it answers {1} again.
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  return {1}
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1}
end
return {0, v, redis.call('PTTL', KEYS[1])}
