//! Lua scripts run atomically inside Redis.

/// Applies one bed event.
///
/// KEYS: bed, ward counters, site counters, system counters, change version,
/// change log, wards index, site history, system history, history settings,
/// newest history buckets' starts.
/// ARGV: entity version, open (`1`/`0`), state, kind, escalation (`1`/`0`),
/// reason, event id, occurred-at (ms), site, ward, bed, change-log max
/// length, event type, history bucket (s), history retention (s).
///
/// When the event changes the beds occupied or usable, the site's and the
/// system's occupancy history record the new figures in the bucket of the
/// event's `occurred_at` (or the scope's newest bucket, when that is later),
/// and a new bucket trims what is past the retention; see
/// [`trend`](crate::trend). A scope without history yet starts from its
/// counters. One O(1) command per event (the newest buckets' starts of both
/// scopes are one hash), and a few O(log n) ones when a bucket is closed.
///
/// Returns `{1, change_version}` when applied, `{0, current_entity_version}`
/// when the event is not newer than what is stored (a duplicate, a
/// redelivery or an older event arriving late): nothing changes then.
pub const APPLY_BED: &str = r#"
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local version = tonumber(ARGV[1])
if version <= current then
  return {0, current}
end
local function field(kind, state, escalation)
  local f = kind .. ':' .. state
  if escalation == '1' then f = f .. ':escalation' end
  return f
end
local old = redis.call('HMGET', KEYS[1], 'open', 'kind', 'state', 'escalation')
local from = ''
if old[1] == '1' then
  from = field(old[2], old[3], old[4])
  redis.call('HINCRBY', KEYS[2], from, -1)
  redis.call('HINCRBY', KEYS[3], from, -1)
  redis.call('HINCRBY', KEYS[4], from, -1)
end
local to = ''
if ARGV[2] == '1' then
  to = field(ARGV[4], ARGV[3], ARGV[5])
  redis.call('HINCRBY', KEYS[2], to, 1)
  redis.call('HINCRBY', KEYS[3], to, 1)
  redis.call('HINCRBY', KEYS[4], to, 1)
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'open', ARGV[2], 'state', ARGV[3],
  'kind', ARGV[4], 'escalation', ARGV[5], 'reason', ARGV[6], 'event_id', ARGV[7],
  'occurred_at', ARGV[8])
redis.call('SADD', KEYS[7], ARGV[9] .. ':' .. ARGV[10])
-- Occupancy history: beds occupied and usable (open, not closed).
local function counts(open, state)
  if open ~= '1' then return 0, 0 end
  local occupied, usable = 0, 1
  if state == 'occupied' then occupied = 1 end
  if state == 'closed' then usable = 0 end
  return occupied, usable
end
local was_occupied, was_usable = counts(old[1], old[3])
local now_occupied, now_usable = counts(ARGV[2], ARGV[3])
local d_occupied, d_usable = now_occupied - was_occupied, now_usable - was_usable
if d_occupied ~= 0 or d_usable ~= 0 then
  local size = tonumber(ARGV[14])
  local keep = tonumber(ARGV[15])
  local event_bucket = math.floor(tonumber(ARGV[8]) / 1000 / size) * size
  -- A scope's figures summed from its counters (which include this event).
  local function from_counters(counters)
    local fields = redis.call('HGETALL', counters)
    local occupied, usable = 0, 0
    for i = 1, #fields, 2 do
      local state = string.match(fields[i], '^[^:]*:([^:]*)')
      local n = tonumber(fields[i + 1]) or 0
      if state == 'occupied' then occupied = occupied + n end
      if state ~= 'closed' then usable = usable + n end
    end
    return occupied, usable
  end
  -- The newest bucket's figures are the counters themselves (every later
  -- event lands in it), so only its start is kept, one field per scope in
  -- one hash: one read per event. When a later bucket starts, the newest is
  -- closed into the scope's sorted set with its figures (the counters
  -- before this event) and what is past the retention is trimmed.
  local fields = {'site:' .. ARGV[9], 'system'}
  local histories = {KEYS[8], KEYS[9]}
  local counters = {KEYS[3], KEYS[4]}
  local newest = redis.call('HMGET', KEYS[11], fields[1], fields[2])
  local started = {}
  for i = 1, 2 do
    local at = tonumber(newest[i])
    if not at or at < event_bucket then
      if at then
        local occupied, usable = from_counters(counters[i])
        redis.call('ZADD', histories[i], at, string.format('%d:%d:%d', at,
          occupied - d_occupied, usable - d_usable))
        -- Past the retention: all but the newest (the value in force when it opens).
        local cutoff = string.format('%d', event_bucket - keep)
        local older = redis.call('ZREVRANGEBYSCORE', histories[i], cutoff, '-inf',
          'LIMIT', 0, 1, 'WITHSCORES')
        if older[1] then
          redis.call('ZREMRANGEBYSCORE', histories[i], '-inf', '(' .. older[2])
        end
      end
      table.insert(started, fields[i])
      table.insert(started, string.format('%d', event_bucket))
    end
  end
  if #started > 0 then
    redis.call('HSET', KEYS[11], unpack(started))
    redis.call('HSET', KEYS[10], 'bucket_secs', ARGV[14], 'keep_secs', ARGV[15])
  end
end
local change = redis.call('INCR', KEYS[5])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[12], change .. '-0',
  'kind', 'bed', 'site', ARGV[9], 'ward', ARGV[10], 'bed', ARGV[11],
  'from', from, 'to', to, 'at', ARGV[8], 'event_type', ARGV[13])
return {1, change}
"#;

/// Reads occupancy history (read-only: a reader with read access runs it).
///
/// KEYS: wards index, history settings, newest history buckets. ARGV: key
/// prefix, then pairs of window start and end (Unix seconds).
/// Returns `{bucket_secs or false, {scope_1, {member, …}, scope_2, …}}`:
/// for each scope (every site in the wards index, then `system`), its
/// newest bucket with the scope's counters now, unless it is after every
/// window, and for each window the
/// newest entry of the sorted set at or before the start, then its entries
/// after the start up to the end (unsorted; the caller sorts).
pub const READ_TRENDS: &str = r#"
local sites = {}
local seen = {}
for _, ward in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local site = string.match(ward, '^([^:]*):')
  if site and not seen[site] then
    seen[site] = true
    table.insert(sites, site)
  end
end
table.sort(sites)
local scopes = {}
for _, site in ipairs(sites) do
  table.insert(scopes, {site, ARGV[1] .. 'trend:site:' .. site, 'site:' .. site,
    ARGV[1] .. 'site:' .. site})
end
table.insert(scopes, {'system', ARGV[1] .. 'trend:system', 'system', ARGV[1] .. 'system'})
local last_end = nil
for i = 3, #ARGV, 2 do
  if not last_end or tonumber(ARGV[i]) > last_end then last_end = tonumber(ARGV[i]) end
end
local out = {}
for _, scope in ipairs(scopes) do
  local members = {}
  -- The newest bucket (its figures are the counters now), unless it is
  -- after every window.
  local at = tonumber(redis.call('HGET', KEYS[3], scope[3]))
  if at and last_end and at <= last_end then
    local fields = redis.call('HGETALL', scope[4])
    local occupied, usable = 0, 0
    for i = 1, #fields, 2 do
      local state = string.match(fields[i], '^[^:]*:([^:]*)')
      local n = tonumber(fields[i + 1]) or 0
      if state == 'occupied' then occupied = occupied + n end
      if state ~= 'closed' then usable = usable + n end
    end
    table.insert(members, string.format('%d:%d:%d', at, occupied, usable))
  end
  for i = 2, #ARGV, 2 do
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
"#;

/// Applies one event of a care home (its events carry its whole record).
///
/// KEYS: record hash, totals, change version, change log, index, geo index.
/// ARGV: entity version, record (JSON), counter contributions (JSON object
/// field → number), event id, occurred-at (ms), entity id, longitude,
/// latitude (both empty: no place), change-log max length, event type,
/// change kind (`care_home`).
///
/// The entity's previous contributions are taken off the totals and the new
/// ones added, so the totals always equal the sum over the entities' newest
/// records. Returns like `APPLY_BED`.
pub const APPLY_RECORD: &str = r#"
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local version = tonumber(ARGV[1])
if version <= current then
  return {0, current}
end
local old = redis.call('HGET', KEYS[1], 'contrib')
if old then
  for field, n in pairs(cjson.decode(old)) do
    redis.call('HINCRBY', KEYS[2], field, -n)
  end
end
for field, n in pairs(cjson.decode(ARGV[3])) do
  redis.call('HINCRBY', KEYS[2], field, n)
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'record', ARGV[2], 'contrib', ARGV[3],
  'event_id', ARGV[4], 'occurred_at', ARGV[5])
redis.call('SADD', KEYS[5], ARGV[6])
if ARGV[7] ~= '' then
  redis.call('GEOADD', KEYS[6], ARGV[7], ARGV[8], ARGV[6])
end
local change = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], change .. '-0',
  'kind', ARGV[11], 'id', ARGV[6], 'record', ARGV[2], 'at', ARGV[5],
  'event_type', ARGV[10])
return {1, change}
"#;

/// Applies one discharge event. The record (patient-identifiable) goes under
/// the patient prefix; the live prefix gets only its summary and counts.
///
/// KEYS: record hash, discharge totals, change version, change log (count
/// feed), discharges index, discharge summaries, discharge views' notices.
/// The record hash, the index and the notices are under the patient prefix.
/// ARGV: entity version, record (JSON), counter contributions (JSON object
/// field → number), event id, occurred-at (ms), discharge id, change-log
/// max length, event type, summary (JSON), managing organisation.
///
/// The discharge's previous contributions are taken off the totals and the
/// new ones added, like `APPLY_RECORD`. The count feed's entry carries the
/// summary; the notice, with the same change version, says which discharge
/// changed to which version for which organisation. Returns like
/// `APPLY_BED`.
pub const APPLY_DISCHARGE: &str = r#"
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local version = tonumber(ARGV[1])
if version <= current then
  return {0, current}
end
local old = redis.call('HGET', KEYS[1], 'contrib')
if old then
  for field, n in pairs(cjson.decode(old)) do
    redis.call('HINCRBY', KEYS[2], field, -n)
  end
end
for field, n in pairs(cjson.decode(ARGV[3])) do
  redis.call('HINCRBY', KEYS[2], field, n)
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'record', ARGV[2], 'contrib', ARGV[3],
  'event_id', ARGV[4], 'occurred_at', ARGV[5])
redis.call('SADD', KEYS[5], ARGV[6])
redis.call('HSET', KEYS[6], ARGV[6], ARGV[9])
local change = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], change .. '-0',
  'kind', 'discharge', 'id', ARGV[6], 'summary', ARGV[9], 'at', ARGV[5],
  'event_type', ARGV[8])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[7], change .. '-0',
  'kind', 'discharge', 'id', ARGV[6], 'version', ARGV[1], 'managed_by', ARGV[10],
  'at', ARGV[5], 'event_type', ARGV[8])
return {1, change}
"#;

/// Reads the change version, every ward's counters, every care home's
/// record and every discharge's summary at one instant (nothing under the
/// patient prefix: a reader without access to it runs this).
///
/// KEYS: change version, wards index, care-homes index, discharge summaries.
/// ARGV: key prefix.
/// Returns `{version, {ward_1, {field, value, …}, ward_2, …}, {cqc_1,
/// record_1, cqc_2, …}, {discharge_1, summary_1, …}}`.
pub const SNAPSHOT: &str = r#"
local wards_out = {}
local wards = redis.call('SMEMBERS', KEYS[2])
table.sort(wards)
for _, ward in ipairs(wards) do
  table.insert(wards_out, ward)
  table.insert(wards_out, redis.call('HGETALL', ARGV[1] .. 'ward:' .. ward))
end
local homes_out = {}
local homes = redis.call('SMEMBERS', KEYS[3])
table.sort(homes)
for _, home in ipairs(homes) do
  local record = redis.call('HGET', ARGV[1] .. 'care-home:' .. home, 'record')
  if record then
    table.insert(homes_out, home)
    table.insert(homes_out, record)
  end
end
return {redis.call('GET', KEYS[1]) or '0', wards_out, homes_out, redis.call('HGETALL', KEYS[4])}
"#;

/// Announces that the state was rebuilt: every reader must take a new
/// snapshot. KEYS: change version, change log, discharge views' notices.
/// ARGV: max length.
pub const ANNOUNCE_RESET: &str = r#"
local change = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], change .. '-0', 'kind', 'reset')
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], change .. '-0', 'kind', 'reset')
return change
"#;

/// Raises a stream's applied-through watermark, never lowers it.
/// KEYS: watermark. ARGV: sequence.
pub const RAISE_WATERMARK: &str = r#"
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"#;
