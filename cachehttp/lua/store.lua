-- Store one cache entry with its tag memberships and live-key record, all in
-- one hash-tag group so it is atomic on Redis Cluster too.
-- KEYS[1] entry, KEYS[2] live-key zset of the route, KEYS[3] refresh lease,
-- KEYS[4..] pairs of (tag set, tag invalidation stamp).
-- ARGV[1] value, ARGV[2] ttl ms, ARGV[3] now ms, ARGV[4] expiry ms,
-- ARGV[5] lease placeholder held by the writer ("" = unconditional),
-- ARGV[6] when the load started (ms), ARGV[7] the invalidation log's MAXLEN
-- ("" = no log entry from here), ARGV[8] the overwrite entry appended to it.
-- When ARGV[7] is set, the last KEYS entry is the invalidation log (a stream,
-- coherence.go): the overwrite is appended in the same atomic step as the
-- write, so no instance can read the new value and still miss the entry.
-- Returns 1 stored, 0 lease lost (the key changed under us), -1 a tag was
-- invalidated while loading (the write is dropped). Finding our own value
-- in place of the lease means this call already stored it and is being run
-- again (go-redis resends a command whose connection broke before the
-- reply): it answers 1 again.
if ARGV[5] ~= '' then
  local cur = redis.call('GET', KEYS[1])
  if cur ~= ARGV[5] then
    if cur == ARGV[1] then return 1 end
    return 0
  end
end
local last = #KEYS
if ARGV[7] ~= '' then
  last = last - 1
end
for i = 4, last, 2 do
  local s = redis.call('GET', KEYS[i + 1])
  if s and tonumber(s) >= tonumber(ARGV[6]) then
    if ARGV[5] ~= '' then
      redis.call('DEL', KEYS[1])
    end
    redis.call('DEL', KEYS[3])
    return -1
  end
end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], ARGV[4], KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local function extend(k)
  if redis.call('PTTL', k) < ttl then
    redis.call('PEXPIRE', k, ttl)
  end
end
extend(KEYS[2])
for i = 4, last, 2 do
  redis.call('SADD', KEYS[i], KEYS[1])
  extend(KEYS[i])
end
redis.call('DEL', KEYS[3])
if ARGV[7] ~= '' then
  redis.call('XADD', KEYS[#KEYS], 'MAXLEN', '~', ARGV[7], '*', 'm', ARGV[8])
end
return 1
