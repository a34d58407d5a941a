-- Makes sure a reservation's seat hold exists until its expiry: extends it,
-- or writes it again when Redis lost it; never takes another holder's seat.
-- KEYS[1] hold key   ARGV[1] hold id   ARGV[2] hold expiry (ms since the epoch)
-- Returns 1 extended, 2 restored, -1 held by someone else.
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
if current then return 1 end
return 2
