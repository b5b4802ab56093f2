-- Release a lock if it is still ours (compare-and-delete).
-- KEYS[1] lock key; ARGV[1] our lock value
-- Returns 1 when deleted, 0 when another holder has it, -1 when it is gone.
-- A second run of the same call (a resent command) finds it gone, or
-- another holder's, and changes nothing.
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
if not v then
  return -1
end
return 0
