-- Raise a fence counter to at least ARGV[1] (Redlock: make a token drawn on
-- some nodes known to a quorum of them).
-- KEYS[1] fence counter; ARGV[1] token; ARGV[2] retention (ms)
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local tok = tonumber(ARGV[1])
if tok > cur then cur = tok end
redis.call('SET', KEYS[1], cur, 'PX', ARGV[2])
return cur
