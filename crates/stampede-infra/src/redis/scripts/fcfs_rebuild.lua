-- Rewrites a pool's gate from the database's truth, keeping the claims
-- still open (taken, not yet persisted): stock = the database's remaining
-- minus the open claims, marks = the database's holders plus the open
-- claims' users. Run only while the pool is blocked (meta.rebuilding = 1)
-- and the persisting consumer has caught up, so no unit is in between.
-- KEYS[1] stock   KEYS[2] marks   KEYS[3] meta   KEYS[4] open claims by time
-- KEYS[5] claims
-- ARGV[1] database remaining   ARGV[2] opens (ms)   ARGV[3] closes (ms)
-- ARGV[4] closed (0/1)   ARGV[5…] user, coupons held, user, coupons held, …
-- Returns the new stock.
local open = redis.call('ZRANGE', KEYS[4], 0, -1)
local stock = tonumber(ARGV[1]) - #open
redis.call('SET', KEYS[1], stock)
redis.call('DEL', KEYS[2])
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
for _, id in ipairs(open) do
  local user = string.match(redis.call('HGET', KEYS[5], id) or '', '^O|([^|]+)')
  if user then redis.call('HINCRBY', KEYS[2], user, 1) end
end
redis.call('HSET', KEYS[3], 'opens_ms', ARGV[2], 'closes_ms', ARGV[3], 'closed', ARGV[4])
redis.call('HDEL', KEYS[3], 'rebuilding')
return stock
