-- Store the completed response for an idempotency key. The first completed
-- response wins: a completed record is never overwritten; a running record
-- (ours, or a later duplicate's) or no record at all is replaced.
-- KEYS[1] record; ARGV[1] completed record; ARGV[2] retention (ms)
-- Returns 1 when stored, 0 when a completed record was already there.
local v = redis.call('GET', KEYS[1])
if v and string.byte(v, 1) ~= 82 then -- 82 = 'R', a running record
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
