-- Releases a seat hold, only if it is still this reservation's.
-- KEYS[1] hold key   ARGV[1] hold id
-- Returns 1 released, 0 not held by it (expired, or someone else's).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
