-- Compensation of a win that could not be recorded: one unit of stock and
-- one of the user's marks go back, and the entry token (if any) is dropped.
-- KEYS[1] stock counter   KEYS[2] marks hash   KEYS[3] entry-token key
-- ARGV[1] user id
-- Returns 1 when given back, 0 when the user held no mark (nothing to undo).
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held <= 0 then return 0 end
if held == 1 then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
end
redis.call('INCR', KEYS[1])
redis.call('DEL', KEYS[3])
return 1
