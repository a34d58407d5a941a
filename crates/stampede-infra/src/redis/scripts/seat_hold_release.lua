-- Releases a seat hold, only if it is still this reservation's, and
-- forgets it as pending.
-- KEYS[1] hold key   KEYS[2] the schedule's pending holds
-- ARGV[1] hold id   ARGV[2] 'seat|hold id'
-- Returns 1 released, 0 not held by it (expired, or someone else's).
redis.call('ZREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
