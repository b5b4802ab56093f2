-- Checks and counts every policy of one request atomically, on Redis's
-- clock, when at least one of them is a sliding window (fixed-window-only
-- requests run the smaller fixed.lua).
--
-- KEYS: per policy, in order: a fixed window uses one key (its counter); a
--       sliding window uses two (the log, a sorted set of admitted requests
--       scored by microsecond time, and the sum of their costs). All keys of
--       one call share a hash tag, so they live in one cluster slot.
-- ARGV: cost, number of policies, then per policy: algorithm (0 fixed,
--       1 sliding), limit, period in milliseconds.
-- Returns: {allowed (0|1), redis time in ms (0 without sliding policies), then per policy: units used
--       (after this request when allowed), ms until the window resets (fixed)
--       or until the oldest logged unit leaves it (sliding), ms this request
--       must wait for this policy to have room (0: has room; -1: never,
--       the cost exceeds the limit)}.
-- A refused request counts nothing anywhere (fixed-window counts taken
-- while checking are undone in the same script, so no client ever sees
-- them); a cost of 0 only reads.
if redis.replicate_commands then pcall(redis.replicate_commands) end

local cost = tonumber(ARGV[1])
local n = tonumber(ARGV[2])

-- Only sliding windows need the clock (fixed windows live on key expiry,
-- which is Redis's clock too); TIME is skipped when no policy needs it and
-- the reply's time is then 0.
local now = 0
for i = 1, n do
  if ARGV[3 + (i - 1) * 3] == '1' then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2]) -- microseconds
    break
  end
end

local allowed = 1
local pol = {}
local ki = 1
for i = 1, n do
  local a = 3 + (i - 1) * 3
  local p = {algo = ARGV[a], limit = tonumber(ARGV[a + 1]), ms = ARGV[a + 2]}
  p.period = tonumber(p.ms) * 1000
  p.retry = 0
  if p.algo == '0' then
    -- Fixed window: count first (one call on the common path), undo below
    -- if any policy refuses.
    p.key = KEYS[ki]
    ki = ki + 1
    local v
    if cost > 0 then
      v = redis.call('INCRBY', p.key, cost)
    else
      v = tonumber(redis.call('GET', p.key) or '0')
    end
    if v == cost then
      if cost > 0 then redis.call('PEXPIRE', p.key, p.ms) end
      p.reset = p.period
    else
      local ttl = redis.call('PTTL', p.key)
      if ttl < 0 then
        -- a counter without expiry (written by something else): give it one
        redis.call('PEXPIRE', p.key, p.ms)
        ttl = tonumber(p.ms)
      end
      p.reset = ttl * 1000
    end
    p.used = v
    if v > p.limit and cost > 0 then
      allowed = 0
      if cost > p.limit then p.retry = -1 else p.retry = p.reset end
    end
  else
    p.key, p.sum = KEYS[ki], KEYS[ki + 1]
    ki = ki + 2
    local cutoff = now - p.period
    p.used = tonumber(redis.call('GET', p.sum) or '0')
    local first = redis.call('ZRANGE', p.key, 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= cutoff then
      local cs = string.format('%.0f', cutoff)
      local old = redis.call('ZRANGEBYSCORE', p.key, '-inf', cs)
      local freed = 0
      for _, m in ipairs(old) do
        freed = freed + tonumber(string.match(m, ':(%d+):'))
      end
      redis.call('ZREMRANGEBYSCORE', p.key, '-inf', cs)
      p.used = p.used - freed
      first = redis.call('ZRANGE', p.key, 0, 0, 'WITHSCORES')
      if p.used <= 0 or not first[2] then
        p.used = 0
        first = {}
        redis.call('DEL', p.key, p.sum)
      else
        redis.call('SET', p.sum, p.used, 'KEEPTTL')
      end
    end
    p.reset = p.period
    if first[2] then p.reset = tonumber(first[2]) + p.period - now end
    if p.used + cost > p.limit then
      allowed = 0
      if cost > p.limit then
        p.retry = -1
      else
        -- wait until enough of the oldest units have left the window
        local need = p.used + cost - p.limit
        local freed, start = 0, 0
        while p.retry == 0 do
          local batch = redis.call('ZRANGE', p.key, start, start + 63, 'WITHSCORES')
          if #batch == 0 then p.retry = p.reset break end
          for j = 1, #batch, 2 do
            freed = freed + tonumber(string.match(batch[j], ':(%d+):'))
            if freed >= need then
              p.retry = tonumber(batch[j + 1]) + p.period - now
              break
            end
          end
          start = start + 64
        end
      end
    end
  end
  pol[i] = p
end

if allowed == 1 then
  if cost > 0 then
    local nows = string.format('%.0f', now)
    for i = 1, n do
      local p = pol[i]
      if p.algo ~= '0' then
        p.used = p.used + cost
        redis.call('ZADD', p.key, nows, nows .. ':' .. cost .. ':' .. string.format('%.0f', p.used))
        redis.call('SET', p.sum, p.used, 'PX', p.ms)
        redis.call('PEXPIRE', p.key, p.ms)
      end
    end
  end
else
  -- refused: take back the fixed-window counts made above
  for i = 1, n do
    local p = pol[i]
    if p.algo == '0' and cost > 0 then
      p.used = redis.call('DECRBY', p.key, cost)
      if p.used <= 0 then redis.call('DEL', p.key) end
    end
  end
end

local out = {allowed, math.floor(now / 1000)}
for i = 1, n do
  local p = pol[i]
  local retry = p.retry
  if retry > 0 then retry = math.ceil(retry / 1000) end
  out[#out + 1] = p.used
  out[#out + 1] = math.ceil(p.reset / 1000)
  out[#out + 1] = retry
end
return out
