-- Reads occupancy history (read-only: a reader with read access runs it).
--
-- KEYS: sites index, history settings, newest history buckets' starts,
-- the system's figures, the system's history.
-- ARGV: the prefixes (from pf_live_state::Keys) of a site's figures, of a
-- site's history and of a site's field in the newest buckets' hash, each
-- followed by the site code; the system's field in that hash; then pairs
-- of window start and end (Unix seconds).
-- Returns {bucket_secs or false, {scope_1, {member, ...}, scope_2, ...}}:
-- for each scope (every site in the sites index, then `system`), its newest
-- bucket with the scope's figures now, unless it is after every window,
-- and for each window the newest entry of the sorted set at or before the
-- start, then its entries after the start up to the end (unsorted; the
-- caller sorts).
local sites = redis.call('SMEMBERS', KEYS[1])
table.sort(sites)
local scopes = {}
for _, site in ipairs(sites) do
  table.insert(scopes, {site, ARGV[2] .. site, ARGV[3] .. site, ARGV[1] .. site})
end
table.insert(scopes, {'system', KEYS[5], ARGV[4], KEYS[4]})
local last_end = nil
for i = 6, #ARGV, 2 do
  if not last_end or tonumber(ARGV[i]) > last_end then last_end = tonumber(ARGV[i]) end
end
local out = {}
for _, scope in ipairs(scopes) do
  local members = {}
  -- The newest bucket (its figures are the scope's figures now), unless
  -- it is after every window.
  local at = tonumber(redis.call('HGET', KEYS[3], scope[3]))
  if at and last_end and at <= last_end then
    local figures = redis.call('HMGET', scope[4], 'occupied', 'usable')
    table.insert(members, string.format('%d:%d:%d', at,
      tonumber(figures[1]) or 0, tonumber(figures[2]) or 0))
  end
  for i = 5, #ARGV, 2 do
    local before = redis.call('ZREVRANGEBYSCORE', scope[2], ARGV[i], '-inf', 'LIMIT', 0, 1)
    if before[1] then table.insert(members, before[1]) end
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', scope[2], '(' .. ARGV[i], ARGV[i + 1])) do
      table.insert(members, m)
    end
  end
  if #members > 0 then
    table.insert(out, scope[1])
    table.insert(out, members)
  end
end
return {redis.call('HGET', KEYS[2], 'bucket_secs'), out}
