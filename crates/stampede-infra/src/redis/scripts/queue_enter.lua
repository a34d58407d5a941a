-- The waiting queue: a user takes a token, or gets back the live one they hold.
-- KEYS[1] waiting zset (token -> arrival seq)   KEYS[2] active zset (token -> expiry ms)
-- KEYS[3] arrival counter   KEYS[4] owners hash (token -> user)   KEYS[5] users hash (user -> token)
-- ARGV[1] user id   ARGV[2] a fresh token   ARGV[3] now (ms)
-- Returns the token the user holds now.
local current = redis.call('HGET', KEYS[5], ARGV[1])
if current then
  if redis.call('ZSCORE', KEYS[1], current) then return current end
  local expires = redis.call('ZSCORE', KEYS[2], current)
  if expires and tonumber(expires) > tonumber(ARGV[3]) then return current end
  redis.call('ZREM', KEYS[2], current)
  redis.call('HDEL', KEYS[4], current)
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, ARGV[2])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
return ARGV[2]
