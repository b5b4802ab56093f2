-- Bump a namespace version and log it, in one atomic step (single node and
-- Sentinel only: on a cluster the two keys are in different slots).
-- KEYS[1] the version key, KEYS[2] the invalidation log (coherence.go).
-- ARGV[1] the log's MAXLEN, ARGV[2] the head of the entry: the kind byte,
-- the item count (2) and the namespace; the new version, as a counted
-- string, completes it (a decimal version is shorter than 128 bytes, so its
-- length is one uvarint byte).
local v = redis.call('INCR', KEYS[1])
local s = string.format('%d', v)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[2] .. string.char(#s) .. s)
return v
