-- The waiting queue: a user takes a token, or gets back the live one they hold.
-- KEYS[1] waiting zset (token -> place)   KEYS[2] active zset (token -> expiry ms)
-- KEYS[3] arrival counter   KEYS[4] owners hash (token -> user)   KEYS[5] users hash (user -> token)
-- KEYS[6] pre-queue zset (token -> arrival ms)   KEYS[7] seen zset (waiting token -> last seen ms)
-- KEYS[8] opening hash (the draw)   KEYS[9] rules hash
-- ARGV[1] user id   ARGV[2] a fresh token   ARGV[3] now (ms)
-- ARGV[4] the opening (ms) when the caller is before it, else 0
-- Returns the token the user holds now. Before the draw a new token waits in
-- the pre-queue; once drawn, every new token queues FIFO behind the drawn ones.
local now = tonumber(ARGV[3])
local current = redis.call('HGET', KEYS[5], ARGV[1])
if current then
  if redis.call('ZSCORE', KEYS[1], current) then
    redis.call('ZADD', KEYS[7], now, current)
    return current
  end
  if redis.call('ZSCORE', KEYS[6], current) then return current end
  local expires = redis.call('ZSCORE', KEYS[2], current)
  if expires and tonumber(expires) > now then return current end
  redis.call('ZREM', KEYS[2], current)
  redis.call('HDEL', KEYS[4], current)
end
local opens_at = tonumber(ARGV[4])
if opens_at > 0 and redis.call('HEXISTS', KEYS[8], 'drawn_at') == 0 then
  redis.call('ZADD', KEYS[6], now, ARGV[2])
  redis.call('HSET', KEYS[9], 'opens_at', opens_at)
else
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[3]), ARGV[2])
  redis.call('ZADD', KEYS[7], now, ARGV[2])
end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
return ARGV[2]
