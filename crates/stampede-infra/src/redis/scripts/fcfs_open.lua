-- Opens a pool: sets the stock counter and the window in one step.
-- KEYS[1] stock counter   KEYS[2] meta hash
-- ARGV[1] stock   ARGV[2] opens (ms)   ARGV[3] closes (ms)
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'opens_ms', ARGV[2], 'closes_ms', ARGV[3], 'closed', '0')
return 1
