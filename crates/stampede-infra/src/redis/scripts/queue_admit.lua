-- One admission step for one concert: forget tokens whose active time is
-- over, then move the `count` longest-waiting tokens to active.
-- KEYS[1] waiting zset   KEYS[2] active zset   KEYS[3] owners hash   KEYS[4] users hash
-- ARGV[1] count   ARGV[2] now (ms)   ARGV[3] active time (ms)
-- Returns {admitted, still waiting, active}.
local now = tonumber(ARGV[2])
for _, token in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  local user = redis.call('HGET', KEYS[3], token)
  redis.call('HDEL', KEYS[3], token)
  if user and redis.call('HGET', KEYS[4], user) == token then redis.call('HDEL', KEYS[4], user) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local admitted = 0
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[1]))
for i = 1, #popped, 2 do
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), popped[i])
  admitted = admitted + 1
end
return {admitted, redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}
