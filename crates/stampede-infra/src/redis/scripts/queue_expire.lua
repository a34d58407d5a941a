-- Ends a user's active token (after their payment): it admits nothing more.
-- KEYS[1] active zset   KEYS[2] owners hash   KEYS[3] users hash
-- ARGV[1] user id
-- Returns 1 when an active token was ended, 0 when there was none.
local token = redis.call('HGET', KEYS[3], ARGV[1])
if not token then return 0 end
if redis.call('ZREM', KEYS[1], token) == 0 then return 0 end
redis.call('HDEL', KEYS[2], token)
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
