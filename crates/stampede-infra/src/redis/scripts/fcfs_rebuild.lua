-- Rewrites a pool's gate from the database's truth, keeping the claims
-- still open (taken, not yet persisted): stock = the database's remaining
-- minus the open claims, marks = the database's holders plus the open
-- claims' users. Run only while the pool is blocked (rebuilding = 1) and
-- the persisting consumer has caught up, so no unit is in between. The
-- pool hash is written anew, which also unblocks it.
-- KEYS[1] pool hash   KEYS[2] open claims by time   KEYS[3] claims
-- ARGV[1] database remaining   ARGV[2] opens (ms)   ARGV[3] closes (ms)
-- ARGV[4] closed (0/1)   ARGV[5…] user, wins held, user, wins held, …
-- Returns the new stock.
local open = redis.call('ZRANGE', KEYS[2], 0, -1)
local stock = tonumber(ARGV[1]) - #open
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'stock', stock, 'opens_ms', ARGV[2], 'closes_ms', ARGV[3], 'closed', ARGV[4])
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], 'u:' .. ARGV[i], ARGV[i + 1])
end
for _, id in ipairs(open) do
  local user = string.match(redis.call('HGET', KEYS[3], id) or '', '^O|([^|]+)')
  if user then redis.call('HINCRBY', KEYS[1], 'u:' .. user, 1) end
end
return stock
