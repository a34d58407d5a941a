-- Takes a seat for a hold unless someone holds it, and notes the hold as
-- pending until its reservation row is written (SeatHolds::written): a
-- process that dies in between leaves a pending hold the healer frees.
-- KEYS[1] hold key   KEYS[2] the schedule's pending holds (sorted set)
-- ARGV[1] hold id   ARGV[2] TTL (ms)   ARGV[3] now (ms)   ARGV[4] 'seat|hold id'
-- Returns 1 taken, 0 held by someone.
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
