-- Extend a lock if it is still ours (compare-and-pexpire).
-- KEYS[1] lock key; ARGV[1] our lock value; ARGV[2] TTL (ms)
-- Returns 1 when extended, 0 when the lock is gone or another holder's.
-- Running it twice extends it twice, from the second run's time.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
