-- Raises a stream's applied-through watermark, never lowers it.
-- KEYS: watermark. ARGV: sequence.
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
