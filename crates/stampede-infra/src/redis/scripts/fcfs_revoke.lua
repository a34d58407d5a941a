-- Gives back the unit of a claim that is still open: its winner was not
-- recorded (the publish failed) or provably never will be (the healer).
-- The claim stays as a tombstone, so a late copy of its winner event is
-- skipped by the persisting consumer instead of issuing the unit twice.
-- KEYS[1] pool hash   KEYS[2] claims hash   KEYS[3] open claims by time
-- KEYS[4] the user's entry-token key
-- ARGV[1] claim id   ARGV[2] user id (the claim's)
-- Returns 1 given back, 0 already settled (its winner reached the
-- consumer), 2 revoked before, -1 the claim is another user's, -3 the ledger is
-- gone (Redis lost it; the rebuild from the database accounts for the unit).
if redis.call('HEXISTS', KEYS[1], 'stock') == 0 then return -3 end
local claim = redis.call('HGET', KEYS[2], ARGV[1])
if not claim then return 0 end
if string.sub(claim, 1, 1) == 'R' then return 2 end
if string.match(claim, '^O|([^|]+)') ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[2], ARGV[1], 'R|' .. ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
local mark = 'u:' .. ARGV[2]
if redis.call('HINCRBY', KEYS[1], mark, -1) <= 0 then
  redis.call('HDEL', KEYS[1], mark)
end
redis.call('HINCRBY', KEYS[1], 'stock', 1)
redis.call('DEL', KEYS[4])
return 1
