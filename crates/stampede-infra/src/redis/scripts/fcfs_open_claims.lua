-- The open claims taken before a moment, oldest first, for the healer.
-- KEYS[1] claims hash   KEYS[2] open claims by time
-- ARGV[1] taken before (ms)   ARGV[2] at most this many
-- Returns a flat list: claim id, taken at (ms), 'O|user|instance', …
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
local out = {}
for i = 1, #ids, 2 do
  out[#out + 1] = ids[i]
  out[#out + 1] = ids[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[1], ids[i]) or ''
end
return out
