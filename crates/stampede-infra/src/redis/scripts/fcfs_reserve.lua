-- Queue mode's decrement, idempotent per request id so a
-- redelivered request never takes two units.
-- KEYS[1] pool hash (its stock)   KEYS[2] reservations hash (request id -> 1)
-- ARGV[1] request id
-- Returns {code, remaining}: 1 reserved now, 2 reserved earlier (redelivery),
-- -1 sold out, -2 never opened.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return {2, tonumber(redis.call('HGET', KEYS[1], 'stock') or '0')}
end
local stock = redis.call('HGET', KEYS[1], 'stock')
if not stock then return {-2, 0} end
if tonumber(stock) <= 0 then return {-1, 0} end
local remaining = redis.call('HINCRBY', KEYS[1], 'stock', -1)
redis.call('HSET', KEYS[2], ARGV[1], 1)
return {1, remaining}
