-- Delete entries and their live-key records. KEYS: entries of one hash-tag
-- group. ARGV[1] the group's key base ("<prefix>{g<N>}"), ARGV[2] the
-- invalidation log's MAXLEN ("" = no log entry from here), ARGV[3] the entry.
-- When ARGV[2] is set, the last KEYS entry is the invalidation log
-- (coherence.go) and the entry is appended, atomically with the deletion.
-- Returns how many entries (not lease placeholders) existed.
local last = #KEYS
if ARGV[2] and ARGV[2] ~= '' then
  last = last - 1
end
local n = 0
for i = 1, last do
  local k = KEYS[i]
  local h = entry_header(k)
  if redis.call('UNLINK', k) == 1 and h then
    n = n + 1
    redis.call('ZREM', ARGV[1] .. 'z:' .. h.route, k)
  end
end
if last < #KEYS then
  redis.call('XADD', KEYS[#KEYS], 'MAXLEN', '~', ARGV[2], '*', 'm', ARGV[3])
end
return n
