-- The first half of an admission step for one concert: forget tokens whose
-- active time is over, admitted no-shows (they took no seat in time: their
-- active slot goes to the next fan) and waiting tokens whose holder stopped
-- polling (they lose their place); then report what the admission decision
-- needs. The decision is made in core; queue_admit.lua applies it.
-- KEYS[1] waiting zset   KEYS[2] active zset   KEYS[3] owners hash   KEYS[4] users hash
-- KEYS[5] seen zset   KEYS[6] unseated zset (admitted token -> seat deadline ms)
-- KEYS[7] rules hash   KEYS[8] pre-queue zset   KEYS[9] opening hash
-- ARGV[1] now (ms)   ARGV[2] abandoned before (ms)
-- Returns {active, waiting, dropped, no-shows, pre-queued,
--          per_interval, active_cap, paused, opens_at, drawn_at} (absent rules: '').
local now = tonumber(ARGV[1])
local function forget(token)
  local user = redis.call('HGET', KEYS[3], token)
  redis.call('HDEL', KEYS[3], token)
  if user and redis.call('HGET', KEYS[4], user) == token then redis.call('HDEL', KEYS[4], user) end
end
for _, token in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  forget(token)
  redis.call('ZREM', KEYS[6], token)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local no_shows = 0
for _, token in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now)) do
  if redis.call('ZREM', KEYS[2], token) == 1 then
    no_shows = no_shows + 1
    forget(token)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
local dropped = 0
for _, token in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[2])) do
  if redis.call('ZREM', KEYS[1], token) == 1 then
    dropped = dropped + 1
    forget(token)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[2])
local rules = redis.call('HMGET', KEYS[7], 'per_interval', 'active_cap', 'paused', 'opens_at')
return {redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[1]), dropped, no_shows,
  redis.call('ZCARD', KEYS[8]), rules[1] or '', rules[2] or '', rules[3] or '', rules[4] or '',
  redis.call('HGET', KEYS[9], 'drawn_at') or ''}
