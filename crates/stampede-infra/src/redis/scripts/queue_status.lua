-- Where tokens stand (one token for a request, many for the live-update
-- reader), and the recent admission steps that tell the outflow.
-- Asking for a WAITING token counts as seeing its holder (the keepalive).
-- KEYS[1] waiting zset   KEYS[2] active zset   KEYS[3] owners hash (token -> user)
-- KEYS[4] pre-queue zset   KEYS[5] seen zset   KEYS[6] rules hash   KEYS[7] outflow zset
-- ARGV[1] now (ms)   ARGV[2] outflow window start (ms; -1: not wanted)   ARGV[3..] tokens
-- Returns {outflow, statuses}: outflow is {at ms, admitted, ...} of the steps
-- in the window; statuses is {owner (0: unknown token), state, value, ...} per
-- token: state 1 waiting (value: position, 1 is next), 2 active (value:
-- expiry ms), 3 pre-queued (value: the opening, ms), 0 expired.
local now = tonumber(ARGV[1])
local outflow = {}
if tonumber(ARGV[2]) >= 0 then
  local steps = redis.call('ZRANGEBYSCORE', KEYS[7], ARGV[2], '+inf', 'WITHSCORES')
  for i = 1, #steps, 2 do
    outflow[#outflow + 1] = tonumber(steps[i + 1])
    outflow[#outflow + 1] = tonumber(string.match(steps[i], ':(%d+)$'))
  end
end
local statuses = {}
local function answer(owner, state, value)
  statuses[#statuses + 1] = owner
  statuses[#statuses + 1] = state
  statuses[#statuses + 1] = value
end
for i = 3, #ARGV do
  local token = ARGV[i]
  local owner = tonumber(redis.call('HGET', KEYS[3], token) or '0')
  local rank = owner ~= 0 and redis.call('ZRANK', KEYS[1], token)
  local expires = owner ~= 0 and redis.call('ZSCORE', KEYS[2], token)
  if owner == 0 then
    answer(0, 0, 0)
  elseif rank then
    redis.call('ZADD', KEYS[5], now, token)
    answer(owner, 1, rank + 1)
  elseif expires and tonumber(expires) > now then
    answer(owner, 2, tonumber(expires))
  elseif redis.call('ZSCORE', KEYS[4], token) then
    answer(owner, 3, tonumber(redis.call('HGET', KEYS[6], 'opens_at') or '0'))
  else
    answer(owner, 0, 0)
  end
end
return {outflow, statuses}
