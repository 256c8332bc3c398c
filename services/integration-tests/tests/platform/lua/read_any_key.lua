-- An attempt to read a key of any type from a script (the Redis users'
-- tests run it as each user). KEYS: the key.
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'hash' then return redis.call('HGETALL', KEYS[1]) end
if t == 'stream' then return redis.call('XRANGE', KEYS[1], '-', '+') end
if t == 'string' then return redis.call('GET', KEYS[1]) end
return redis.call('DUMP', KEYS[1])
