-- The FCFS gate: one atomic decision per request. A win takes a unit,
-- marks the user and opens a claim on the unit, which ends either settled
-- (its winner reached the persisting consumer: fcfs_settle.lua) or given
-- back (fcfs_revoke.lua). See fcfs_gate/mod.rs for the argument.
-- The refusals come in the order of stampede_core's GateState::refusal,
-- which decides them from a read alone once a pool refuses everyone
-- (fcfs_gate/take.rs); a test holds the two together.
-- KEYS[1] pool hash (stock, opens_ms, closes_ms, closed, rebuilding,
--         u:<user> -> wins held)
-- KEYS[2] claims hash (claim id -> 'O|user|instance' open, 'R|user' revoked)
-- KEYS[3] open claims by time (sorted set, score = taken at, ms)
-- KEYS[4] the user's entry-token key (campaigns only)
-- ARGV[1] user id   ARGV[2] now (ms; also the entry token's value)
-- ARGV[3] per-user limit   ARGV[4] claim id   ARGV[5] the taking instance's id
-- ARGV[6] entry token TTL seconds (campaigns only)
-- Returns {code, ordinal, remaining}: 1 won, -1 sold out, -2 never opened,
-- -3 outside the window, -4 closed, -5 the user already holds the limit,
-- -6 being rebuilt from the database (after Redis lost it, or a repair).
local mark = 'u:' .. ARGV[1]
local pool = redis.call('HMGET', KEYS[1], 'stock', 'opens_ms', 'closes_ms', 'closed', 'rebuilding', mark)
local stock = tonumber(pool[1])
if not stock then return {-2, 0, 0} end
if pool[5] == '1' then return {-6, 0, stock} end
if pool[4] == '1' then return {-4, 0, stock} end
local now = tonumber(ARGV[2])
if now < (tonumber(pool[2]) or 0) or now >= (tonumber(pool[3]) or 0) then return {-3, 0, stock} end
local held = tonumber(pool[6] or '0')
if held >= tonumber(ARGV[3]) then return {-5, held, stock} end
if stock <= 0 then return {-1, 0, 0} end
local remaining = redis.call('HINCRBY', KEYS[1], 'stock', -1)
local ordinal = redis.call('HINCRBY', KEYS[1], mark, 1)
redis.call('HSET', KEYS[2], ARGV[4], 'O|' .. ARGV[1] .. '|' .. ARGV[5])
redis.call('ZADD', KEYS[3], now, ARGV[4])
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[2], 'EX', ARGV[6]) end
return {1, ordinal, remaining}
