-- Announces that the state was rebuilt: every reader must take a new
-- snapshot. KEYS: change version, change log, discharge views' notices.
-- ARGV: the logs' max length.
local change = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], change .. '-0', 'kind', 'reset')
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], change .. '-0', 'kind', 'reset')
return change
