-- The FCFS gate: one atomic decision per request. A win takes a unit,
-- marks the user and opens a claim on the unit, which ends either settled
-- (its winner reached the persisting consumer: fcfs_settle.lua) or given
-- back (fcfs_revoke.lua). See fcfs_gate.rs for the argument.
-- KEYS[1] stock counter   KEYS[2] marks hash (user -> wins)
-- KEYS[3] meta hash (opens_ms, closes_ms, closed)   KEYS[4] entry-token key
-- KEYS[5] claims hash (claim id -> 'O|user|instance' open, 'R|user' revoked)
-- KEYS[6] open claims by time (sorted set, score = taken at, ms)
-- ARGV[1] user id   ARGV[2] now (ms)   ARGV[3] per-user limit
-- ARGV[4] token TTL seconds (0: no token)   ARGV[5] token value
-- ARGV[6] claim id   ARGV[7] the taking instance's id
-- Returns {code, ordinal, remaining}: 1 won, -1 sold out, -2 never opened,
-- -3 outside the window, -4 closed, -5 the user already holds the limit,
-- -6 being rebuilt from the database (after Redis lost it, or a repair).
local stock = redis.call('GET', KEYS[1])
if not stock then return {-2, 0, 0} end
local meta = redis.call('HMGET', KEYS[3], 'opens_ms', 'closes_ms', 'closed', 'rebuilding')
if meta[4] == '1' then return {-6, 0, tonumber(stock)} end
if meta[3] == '1' then return {-4, 0, tonumber(stock)} end
local now = tonumber(ARGV[2])
if now < tonumber(meta[1]) or now >= tonumber(meta[2]) then return {-3, 0, tonumber(stock)} end
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held >= tonumber(ARGV[3]) then return {-5, held, tonumber(stock)} end
if tonumber(stock) <= 0 then return {-1, 0, 0} end
local remaining = redis.call('DECR', KEYS[1])
local ordinal = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('HSET', KEYS[5], ARGV[6], 'O|' .. ARGV[1] .. '|' .. ARGV[7])
redis.call('ZADD', KEYS[6], now, ARGV[6])
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('SET', KEYS[4], ARGV[5], 'EX', ttl) end
return {1, ordinal, remaining}
