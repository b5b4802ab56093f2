-- Checks and counts fixed-window policies of one request atomically. The
-- window lives on key expiry (Redis's clock); no TIME, no tables per
-- policy, no string building: the keys come ready from Go.
--
-- KEYS: one counter per policy, all under one hash tag (one cluster slot).
-- ARGV: cost, then per policy: limit, period in milliseconds.
-- Returns a flat array: {allowed (0|1), then per policy: units used (after
--       this request when allowed; without it when refused), ms until the
--       window resets (negative: a whole period, the window starts now or
--       has not started)}.
-- A counter found without expiry (written by something else) gets one.
-- Counting stops at the first policy that refuses; the policies counted
-- before it are taken back in the same call, so a refused request counts
-- nowhere. The rest are only read. A cost of 0 only reads.
local cost = tonumber(ARGV[1])
local n = #KEYS
local out
if n == 1 then out = {1, 0, 0} elseif n == 2 then out = {1, 0, 0, 0, 0} else out = {1} end
local counting = cost > 0
local took = 0
for i = 1, n do
  local k, j = KEYS[i], i + i
  local v, ttl
  if counting then
    v = redis.call('INCRBY', k, cost)
    took = i
    if v == cost then
      -- a new window
      redis.call('PEXPIRE', k, ARGV[j + 1])
      ttl = -1
    else
      ttl = redis.call('PTTL', k)
      if ttl == -1 then redis.call('PEXPIRE', k, ARGV[j + 1]) end
    end
    if v > tonumber(ARGV[j]) then
      out[1] = 0
      counting = false
    end
  else
    v = tonumber(redis.call('GET', k)) or 0
    ttl = redis.call('PTTL', k)
    if ttl == -1 then redis.call('PEXPIRE', k, ARGV[j + 1]) end
  end
  out[j] = v
  out[j + 1] = ttl
end
if out[1] == 0 then
  for i = 1, took do
    local v = redis.call('DECRBY', KEYS[i], cost)
    if v <= 0 then redis.call('DEL', KEYS[i]) end
    out[i + i] = v
  end
end
return out
