-- Closes a scope's newest occupancy-history bucket: records its figures
-- under its start and trims what is past the retention (all but the newest
-- entry before the cutoff: the value in force when the window opens).
-- Called by the writer (src/writer.rs) inside a batch's transaction, before
-- the batch's counter moves are written: the figures stored are those
-- before the batch, and the arguments add what the batch moved before the
-- event that starts the next bucket.
--
-- KEYS: the scope's sorted set of closed buckets, its figures hash.
-- ARGV: the bucket's start (Unix seconds), the batch's moves of occupied
-- and of usable so far, the retention's cutoff (Unix seconds).
local figures = redis.call('HMGET', KEYS[2], 'occupied', 'usable')
local at = ARGV[1]
local occupied = (tonumber(figures[1]) or 0) + tonumber(ARGV[2])
local usable = (tonumber(figures[2]) or 0) + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], at, string.format('%d:%d:%d', tonumber(at), occupied, usable))
local older = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[4], '-inf', 'LIMIT', 0, 1, 'WITHSCORES')
if older[1] then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. older[2])
end
return 1
