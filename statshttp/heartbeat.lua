-- The heartbeat of an instance with no new counts: it stays listed without
-- rewriting its figures. Returns 0, writing nothing, when the instance's
-- record is gone (expired, or the database was emptied): the caller then
-- writes it in full.
-- KEYS[1] the instance's hash, KEYS[2] the set of instances
-- ARGV[1] now (unix ms), ARGV[2] InstanceTTL (ms), ARGV[3] the instance ID
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], '@seen', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
