-- Applies a batch of events to the live state, in order, atomically: the one
-- apply for every entity kind. What changes is decided in Rust
-- (pf_live_state::fold); this script only checks each entity's version and
-- writes. See fold.rs for each event's arguments, which one Rust builder
-- (Plan::arguments) passes, and store.rs (LiveState::apply_through) for the
-- batch around them.
--
-- KEYS: change version, change log, notices; then each event's own keys:
-- entity hash, `counters` counter hashes, `sets` sets, `puts` hashes,
-- `removes` hashes, `geo` geo sets (0 or 1), then, with a history, the
-- newest buckets' starts, the history settings and one sorted set per
-- history scope.
-- ARGV: number of events; then per event: the number of its keys, entity
-- version, plan (JSON), contributions (JSON: one object per counter hash,
-- field -> amount).
--
-- Returns, per event, {1, change_version} when applied, or
-- {0, current_entity_version} when the event is not newer than what is
-- stored: nothing changes for it then.
--
-- The end state is exactly the one applying the events one by one would
-- leave; the batch only saves work: every counter field an event moves is
-- added up and written once at the end (HINCRBY by the net amount, also
-- when that is 0, so the same fields exist), an index member is added once
-- per batch, the newest buckets' starts are read once, and the change
-- version is read once and written once.
local version_key, changes_key, notices_key = KEYS[1], KEYS[2], KEYS[3]

-- Counter key -> field -> net amount, written at the end (keys in the order
-- first touched).
local pending, pending_keys = {}, {}
local function add(key, field, n)
  local fields = pending[key]
  if not fields then
    fields = {}
    pending[key] = fields
    table.insert(pending_keys, key)
  end
  fields[field] = (fields[field] or 0) + n
end
-- A counter's figure as applying the batch so far has made it.
local function figure(key, field)
  local stored = tonumber(redis.call('HGET', key, field)) or 0
  local fields = pending[key]
  return stored + ((fields and fields[field]) or 0)
end

-- Set members added in this batch.
local added = {}
-- The newest buckets' starts read in this batch: hash key -> field -> start
-- (false when there is none).
local newest = {}
local function newest_start(key, field)
  local cache = newest[key]
  if not cache then
    cache = {}
    newest[key] = cache
  end
  local at = cache[field]
  if at == nil then
    at = tonumber(redis.call('HGET', key, field)) or false
    cache[field] = at
  end
  return at or nil
end

local change = nil
local results = {}
local k, a = 4, 2
for e = 1, tonumber(ARGV[1]) do
  local nkeys, version = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local plan_json, contrib_json = ARGV[a + 2], ARGV[a + 3]
  local entity = KEYS[k]
  local base = k
  a = a + 4
  k = k + nkeys

  local plan = cjson.decode(plan_json)
  local stored = redis.call('HMGET', entity, 'version', 'contrib', plan.previous_field or 'version')
  local current = tonumber(stored[1] or '0')
  if version <= current then
    results[e] = {0, current}
  else
    local contrib = cjson.decode(contrib_json)
    local old = {}
    if stored[2] then old = cjson.decode(stored[2]) end

    -- The counters: the entity's previous contributions off, the new ones on.
    local next_key = base + 1
    local counters = {}
    for i = 1, plan.counters do
      counters[i] = KEYS[next_key]
      next_key = next_key + 1
      for field, n in pairs(old[i] or {}) do
        add(counters[i], field, -n)
      end
      for field, n in pairs(contrib[i] or {}) do
        add(counters[i], field, n)
      end
    end

    -- The entity's own hash.
    local fields = {'version', ARGV[a - 3], 'contrib', contrib_json}
    for _, v in ipairs(plan.fields) do table.insert(fields, v) end
    redis.call('HSET', entity, unpack(fields))

    -- Indexes and summaries beside it.
    for i = 1, plan.sets do
      local member = plan.members[i]
      local seen = KEYS[next_key] .. '\0' .. member
      if not added[seen] then
        added[seen] = true
        redis.call('SADD', KEYS[next_key], member)
      end
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
    -- (one field per scope in one hash); when a later bucket starts, the
    -- newest is closed into the scope's sorted set with the figures before
    -- this event, and what is past the retention is trimmed (all but the
    -- newest entry before the cutoff: the value in force when the window
    -- opens).
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
          local at = newest_start(newest_key, scope[2])
          if not at or at < event_bucket then
            if at then
              local occupied = figure(counters[i], 'occupied')
              local usable = figure(counters[i], 'usable')
              redis.call('ZADD', zset, at, string.format('%d:%d:%d', at,
                occupied - d_occupied, usable - d_usable))
              local cutoff = string.format('%d', event_bucket - keep)
              local older = redis.call('ZREVRANGEBYSCORE', zset, cutoff, '-inf',
                'LIMIT', 0, 1, 'WITHSCORES')
              if older[1] then
                redis.call('ZREMRANGEBYSCORE', zset, '-inf', '(' .. older[2])
              end
            end
            newest[newest_key][scope[2]] = event_bucket
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
    if not change then
      change = tonumber(redis.call('GET', version_key) or '0')
    end
    change = change + 1
    local entry = {}
    for _, v in ipairs(plan.change) do table.insert(entry, v) end
    if plan.previous_field then
      table.insert(entry, plan.previous_as)
      table.insert(entry, stored[3] or '')
    end
    redis.call('XADD', changes_key, 'MAXLEN', '~', plan.max_len, string.format('%d-0', change), unpack(entry))
    if plan.notice then
      redis.call('XADD', notices_key, 'MAXLEN', '~', plan.max_len, string.format('%d-0', change), unpack(plan.notice))
    end
    results[e] = {1, change}
  end
end

for _, key in ipairs(pending_keys) do
  for field, n in pairs(pending[key]) do
    redis.call('HINCRBY', key, field, n)
  end
end
if change then
  redis.call('SET', version_key, string.format('%d', change))
end
return results
