-- Two GCRA limits in one call, so a request costs one round trip: the
-- user's (KEYS[1]) and the global one (KEYS[2], this shard's share of it).
-- Each key holds a theoretical arrival time (TAT) in microseconds; a
-- request at `now` is admitted while TAT - burst <= now and moves the TAT
-- one interval on. Both are checked before either moves, so a request the
-- global limit refuses does not use up the user's allowance.
-- The clock is the Redis node's (TIME): every instance reads the same one.
--
-- ARGV[1], ARGV[2]: the user's interval and burst tolerance (µs, interval 0 = off)
-- ARGV[3], ARGV[4]: the same for the global share
-- Returns {0, 0} when admitted, else {1, wait µs} (the user's limit) or
-- {2, wait µs} (the global one).
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local function arrival(key, interval)
    if interval == 0 then
        return nil
    end
    local stored = tonumber(redis.call('GET', key))
    if stored == nil or stored < now then
        return now
    end
    return stored
end

local limits = {
    { key = KEYS[1], interval = tonumber(ARGV[1]), burst = tonumber(ARGV[2]) },
    { key = KEYS[2], interval = tonumber(ARGV[3]), burst = tonumber(ARGV[4]) },
}
for which, limit in ipairs(limits) do
    limit.tat = arrival(limit.key, limit.interval)
    if limit.tat and limit.tat - limit.burst > now then
        return { which, limit.tat - limit.burst - now }
    end
end
for _, limit in ipairs(limits) do
    if limit.tat then
        local next = limit.tat + limit.interval
        -- '%.0f': Lua would write a large number as 1.7e+15.
        redis.call('SET', limit.key, string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000) + 1)
    end
end
return { 0, 0 }
