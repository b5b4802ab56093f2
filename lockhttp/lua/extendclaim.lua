-- Extend an idempotency claim if it is still ours.
-- KEYS[1] record; ARGV[1] our running record; ARGV[2] TTL (ms)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
