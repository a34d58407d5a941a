-- The persisting consumer settles the claims of the winners it received,
-- before writing their rows: an open claim is closed (nobody can give its
-- unit back any more), a revoked one means its unit was given back and its
-- winner must not be written. A claim that is not there was settled before
-- (a redelivery) or lost with Redis: its winner is written (the rows'
-- unique key absorbs a duplicate).
-- KEYS[1] claims hash   KEYS[2] open claims by time
-- ARGV claim ids
-- Returns, per claim, 1 write the winner, 0 skip it.
local answers = {}
for i, id in ipairs(ARGV) do
  local claim = redis.call('HGET', KEYS[1], id)
  if claim and string.sub(claim, 1, 1) == 'R' then
    answers[i] = 0
  else
    if claim then
      redis.call('HDEL', KEYS[1], id)
      redis.call('ZREM', KEYS[2], id)
    end
    answers[i] = 1
  end
end
return answers
