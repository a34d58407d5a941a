-- Takes the current admission interval for the caller. Intervals are slots
-- of ARGV[1] ms on Redis's own clock (the same for every instance, whatever
-- their clocks say); each slot is admitted at most once, by whichever
-- instance asks first in it, and none is lost to a lock that outlives it.
-- KEYS[1] when the slot taken last ends (ms)
-- ARGV[1] interval in ms
-- Returns 1 when the caller took the current slot, 0 when it was taken.
local interval = tonumber(ARGV[1])
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local taken_until = tonumber(redis.call('GET', KEYS[1]) or '0')
if now_ms < taken_until then return 0 end
local slot_end = (math.floor(now_ms / interval) + 1) * interval
redis.call('SET', KEYS[1], slot_end, 'PX', interval * 10)
return 1
