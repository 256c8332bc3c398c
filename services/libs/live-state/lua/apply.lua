-- Applies one event to the live state, atomically: the one apply for
-- every entity kind. What changes is decided in Rust (pf_live_state::fold);
-- this script only checks the version and writes. See fold.rs for the
-- arguments, which one Rust builder (Plan::invocation) passes.
--
-- KEYS: entity hash, change version, change log, notices, then `counters`
-- counter hashes, `sets` sets, `puts` hashes, `removes` hashes, `geo`
-- geo sets (0 or 1),
-- then, with a history, the newest buckets' starts, the history settings
-- and one sorted set per history scope.
-- ARGV: entity version, plan (JSON), contributions (JSON: one object per
-- counter hash, field -> amount).
--
-- Returns {1, change_version} when applied, {0, current_entity_version}
-- when the event is not newer than what is stored: nothing changes then.
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local version = tonumber(ARGV[1])
if version <= current then
  return {0, current}
end
local plan = cjson.decode(ARGV[2])
local contrib = cjson.decode(ARGV[3])
local stored = redis.call('HMGET', KEYS[1], 'contrib', plan.previous_field or 'version')
local old = {}
if stored[1] then old = cjson.decode(stored[1]) end

-- The counters: the entity's previous contributions off, the new ones on.
local next_key = 5
local counters = {}
for i = 1, plan.counters do
  counters[i] = KEYS[next_key]
  next_key = next_key + 1
  for field, n in pairs(old[i] or {}) do
    redis.call('HINCRBY', counters[i], field, -n)
  end
  for field, n in pairs(contrib[i] or {}) do
    redis.call('HINCRBY', counters[i], field, n)
  end
end

-- The entity's own hash.
local fields = {'version', ARGV[1], 'contrib', ARGV[3]}
for _, v in ipairs(plan.fields) do table.insert(fields, v) end
redis.call('HSET', KEYS[1], unpack(fields))

-- Indexes and summaries beside it.
for i = 1, plan.sets do
  redis.call('SADD', KEYS[next_key], plan.members[i])
  next_key = next_key + 1
end
for i = 1, plan.puts do
  redis.call('HSET', KEYS[next_key], plan.put_fields[i][1], plan.put_fields[i][2])
  next_key = next_key + 1
end
for i = 1, (plan.removes or 0) do
  redis.call('HDEL', KEYS[next_key], plan.remove_fields[i])
  next_key = next_key + 1
end
if plan.geo then
  redis.call('GEOADD', KEYS[next_key], plan.geo[1], plan.geo[2], plan.geo[3])
  next_key = next_key + 1
end

-- The history of figures the entity moved: each scope's newest bucket's
-- figures are its figures hash now, so only the bucket's start is kept
-- (one field per scope in one hash); when a later bucket starts, the newest
-- is closed into the scope's sorted set with the figures before this event,
-- and what is past the retention is trimmed (all but the newest entry
-- before the cutoff: the value in force when the window opens).
local history = plan.history
if history then
  local newest_key, meta_key = KEYS[next_key], KEYS[next_key + 1]
  local size, keep = history.bucket_secs, history.keep_secs
  local event_bucket = math.floor(history.at_ms / 1000 / size) * size
  local started = {}
  for s, scope in ipairs(history.scopes) do
    local zset = KEYS[next_key + 1 + s]
    local i = scope[1]
    local was, now = old[i] or {}, contrib[i] or {}
    local d_occupied = (now.occupied or 0) - (was.occupied or 0)
    local d_usable = (now.usable or 0) - (was.usable or 0)
    if d_occupied ~= 0 or d_usable ~= 0 then
      local at = tonumber(redis.call('HGET', newest_key, scope[2]))
      if not at or at < event_bucket then
        if at then
          local figures = redis.call('HMGET', counters[i], 'occupied', 'usable')
          redis.call('ZADD', zset, at, string.format('%d:%d:%d', at,
            (tonumber(figures[1]) or 0) - d_occupied, (tonumber(figures[2]) or 0) - d_usable))
          local cutoff = string.format('%d', event_bucket - keep)
          local older = redis.call('ZREVRANGEBYSCORE', zset, cutoff, '-inf',
            'LIMIT', 0, 1, 'WITHSCORES')
          if older[1] then
            redis.call('ZREMRANGEBYSCORE', zset, '-inf', '(' .. older[2])
          end
        end
        table.insert(started, scope[2])
        table.insert(started, string.format('%d', event_bucket))
      end
    end
  end
  if #started > 0 then
    redis.call('HSET', newest_key, unpack(started))
    redis.call('HSET', meta_key, 'bucket_secs', size, 'keep_secs', keep)
  end
end

-- The change log (counts only) and, for patient-level entities, the
-- notice with the same change version.
local change = redis.call('INCR', KEYS[2])
local entry = {}
for _, v in ipairs(plan.change) do table.insert(entry, v) end
if plan.previous_field then
  table.insert(entry, plan.previous_as)
  table.insert(entry, stored[2] or '')
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', plan.max_len, change .. '-0', unpack(entry))
if plan.notice then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', plan.max_len, change .. '-0', unpack(plan.notice))
end
return {1, change}
