-- An attempt to write the live state from a script (the access table runs
-- it as a read-only user). KEYS: the key.
return redis.call('SET', KEYS[1], '0')
