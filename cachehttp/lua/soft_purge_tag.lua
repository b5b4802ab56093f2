-- Soft-purge one batch of a tag's entries in one hash-tag group: mark them
-- stale in place (bit 7 of the version byte, TTL kept) instead of deleting
-- them, so stale-while-revalidate can still serve them while one request
-- refreshes. Members stay in the tag set, so a later hard invalidation still
-- reaches them; members whose entry is gone are removed.
-- KEYS[1] tag set, KEYS[2] tag invalidation stamp.
-- ARGV[1] now ms, ARGV[2] SSCAN cursor, ARGV[3] batch size,
-- ARGV[4] minimum stamp lifetime ms, ARGV[5] the invalidation log's MAXLEN
-- ("" = no log entry from here), ARGV[6] the entry. When ARGV[5] is set,
-- KEYS[3] is the invalidation log (coherence.go): the run that ends the scan
-- (cursor 0) appends the entry, atomically with its marks; Go sets it only
-- on the call's last run (softpurge.go).
-- Returns {entries marked, next cursor}.
local life = redis.call('PTTL', KEYS[1])
if life < tonumber(ARGV[4]) then
  life = tonumber(ARGV[4])
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', life)
local r = redis.call('SSCAN', KEYS[1], ARGV[2], 'COUNT', tonumber(ARGV[3]))
local n = 0
for _, k in ipairs(r[2]) do
  local h = entry_header(k)
  if h == nil then
    redis.call('SREM', KEYS[1], k)
  elseif h and not is_purged(h) then
    mark_purged(k, h)
    n = n + 1
  end
end
if ARGV[5] and ARGV[5] ~= '' and r[1] == '0' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'm', ARGV[6])
end
return {n, r[1]}
