-- Delete entries and their live-key records. KEYS: entries of one hash-tag
-- group. ARGV[1] the group's key base ("<prefix>{g<N>}").
-- Returns how many entries (not lease placeholders) existed.
local n = 0
for _, k in ipairs(KEYS) do
  local h = redis.call('GETRANGE', k, 0, 258)
  if redis.call('UNLINK', k) == 1 and string.byte(h, 1) == 0xCA then
    n = n + 1
    local rl = string.byte(h, 3)
    redis.call('ZREM', ARGV[1] .. 'z:' .. string.sub(h, 4, 3 + rl), k)
  end
end
return n
