-- Delete an idempotency claim if it is still ours.
-- KEYS[1] record; ARGV[1] our running record
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
