-- The second half of an admission step: admit the count core decided from
-- queue_sweep.lua's answer, unless the active set changed since (another
-- admitter, a payment): then nothing, and the next step decides afresh, so
-- the active cap holds however many instances admit.
-- KEYS[1] waiting zset   KEYS[2] active zset   KEYS[3] seen zset
-- KEYS[4] unseated zset   KEYS[5] outflow zset (member "<at ms>:<admitted>", score at ms)
-- ARGV[1] count   ARGV[2] now (ms)   ARGV[3] active time (ms)   ARGV[4] seat deadline (ms)
-- ARGV[5] the active count the decision saw   ARGV[6] outflow window start (ms)
-- Returns {admitted (-1: stale decision), still waiting, active}.
if redis.call('ZCARD', KEYS[2]) ~= tonumber(ARGV[5]) then
  return {-1, redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}
end
local now = tonumber(ARGV[2])
local admitted = 0
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[1]))
for i = 1, #popped, 2 do
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), popped[i])
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[4]), popped[i])
  redis.call('ZREM', KEYS[3], popped[i])
  admitted = admitted + 1
end
if admitted > 0 then redis.call('ZADD', KEYS[5], now, now .. ':' .. admitted) end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[6])
return {admitted, redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}
