-- Where a token stands.
-- KEYS[1] waiting zset   KEYS[2] active zset   KEYS[3] owners hash (token -> user)
-- ARGV[1] token   ARGV[2] now (ms)
-- Returns {owner (0: unknown token), state, value}: state 1 waiting (value:
-- position, 1 is next), 2 active (value: expiry ms), 0 expired.
local owner = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if owner == 0 then return {0, 0, 0} end
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if rank then return {owner, 1, rank + 1} end
local expires = redis.call('ZSCORE', KEYS[2], ARGV[1])
if expires and tonumber(expires) > tonumber(ARGV[2]) then return {owner, 2, tonumber(expires)} end
return {owner, 0, 0}
