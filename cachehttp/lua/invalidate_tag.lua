-- Invalidate one batch of a tag's entries in one hash-tag group.
-- KEYS[1] tag set, KEYS[2] tag invalidation stamp.
-- ARGV[1] group key base, ARGV[2] now ms, ARGV[3] batch size,
-- ARGV[4] minimum stamp lifetime ms, ARGV[5] the invalidation log's MAXLEN
-- ("" = no log entry from here), ARGV[6] the entry. When ARGV[5] is set,
-- KEYS[3] is the invalidation log (coherence.go): the run that finishes the
-- group (fewer than a batch popped) appends the entry, atomically with its
-- deletions; Go sets it only on the call's last run (redis_backend.go).
-- The stamp makes a racing store of a load that started before now drop its
-- write (see store.lua). Returns {entries deleted, members popped}.
local life = redis.call('PTTL', KEYS[1])
if life < tonumber(ARGV[4]) then
  life = tonumber(ARGV[4])
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', life)
local ks = redis.call('SPOP', KEYS[1], tonumber(ARGV[3]))
local n = 0
for _, k in ipairs(ks) do
  local h = entry_header(k)
  if redis.call('UNLINK', k) == 1 and h then
    n = n + 1
    redis.call('ZREM', ARGV[1] .. 'z:' .. h.route, k)
  end
end
if ARGV[5] and ARGV[5] ~= '' and #ks < tonumber(ARGV[3]) then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'm', ARGV[6])
end
return {n, #ks}
