-- Delete entries and their live-key records. KEYS: entries of one hash-tag
-- group. ARGV[1] the group's key base ("<prefix>{g<N>}").
-- Returns how many entries (not lease placeholders) existed.
local n = 0
for _, k in ipairs(KEYS) do
  local h = entry_header(k)
  if redis.call('UNLINK', k) == 1 and h then
    n = n + 1
    redis.call('ZREM', ARGV[1] .. 'z:' .. h.route, k)
  end
end
return n
