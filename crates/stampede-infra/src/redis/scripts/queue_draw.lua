-- The fair opening, exactly once: the pre-queue, in the order core drew
-- from the concert's seed, goes ahead of every FIFO token (scores -n..-1,
-- FIFO tokens count from 1). Refused when drawn already, when the seed is
-- not the stored one, or when the pre-queue is not exactly the drawn tokens.
-- KEYS[1] waiting zset   KEYS[2] pre-queue zset   KEYS[3] seen zset
-- KEYS[4] opening hash (seed, drawn_at, count)   KEYS[5] opening order list
-- ARGV[1] now (ms)   ARGV[2] seed (hex)   ARGV[3..] tokens in drawn order
-- Returns 1 drawn, 0 drawn already, -1 stale (read again and redraw).
if redis.call('HEXISTS', KEYS[4], 'drawn_at') == 1 then return 0 end
if redis.call('HGET', KEYS[4], 'seed') ~= ARGV[2] then return -1 end
local count = #ARGV - 2
if redis.call('ZCARD', KEYS[2]) ~= count then return -1 end
for i = 1, count do
  local token = ARGV[i + 2]
  if not redis.call('ZSCORE', KEYS[2], token) then return -1 end
end
for i = 1, count do
  local token = ARGV[i + 2]
  redis.call('ZADD', KEYS[1], i - count - 1, token)
  redis.call('ZADD', KEYS[3], ARGV[1], token)
  redis.call('RPUSH', KEYS[5], token)
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[4], 'drawn_at', ARGV[1], 'count', count)
return 1
