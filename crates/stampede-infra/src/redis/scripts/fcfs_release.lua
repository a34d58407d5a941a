-- Compensation of a queue-mode reservation (+1), at most once per request id.
-- KEYS[1] pool hash (its stock)   KEYS[2] reservations hash   ARGV[1] request id
-- Returns 1 when released, 0 when there was nothing to release.
if redis.call('HDEL', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'stock', 1)
  return 1
end
return 0
