-- Confirms a reservation's seat hold until its expiry: extends it when it
-- is still this reservation's. A hold that is gone (released after the
-- payment was decided, expired, or lost with Redis) is not written again:
-- writing it back could resurrect a hold the cleanup just released, and the
-- database's unique live reservation per seat guards the seat anyway.
-- KEYS[1] hold key   ARGV[1] hold id   ARGV[2] hold expiry (ms since the epoch)
-- Returns 1 extended, 0 gone, -1 held by someone else.
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if current ~= ARGV[1] then return -1 end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
