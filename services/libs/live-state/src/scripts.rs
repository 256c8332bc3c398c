//! Lua scripts run atomically inside Redis.

/// Applies one bed event.
///
/// KEYS: bed, ward counters, site counters, system counters, change version,
/// change log, wards index.
/// ARGV: entity version, open (`1`/`0`), state, kind, escalation (`1`/`0`),
/// reason, event id, occurred-at (ms), site, ward, bed, change-log max
/// length, event type.
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
local change = redis.call('INCR', KEYS[5])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[12], change .. '-0',
  'kind', 'bed', 'site', ARGV[9], 'ward', ARGV[10], 'bed', ARGV[11],
  'from', from, 'to', to, 'at', ARGV[8], 'event_type', ARGV[13])
return {1, change}
"#;

/// Applies one event of an entity whose events carry its whole record (a
/// care home, a discharge).
///
/// KEYS: record hash, totals, change version, change log, index, geo index.
/// ARGV: entity version, record (JSON), counter contributions (JSON object
/// field → number), event id, occurred-at (ms), entity id, longitude,
/// latitude (both empty: no place), change-log max length, event type,
/// change kind (`care_home`, `discharge`).
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

/// Reads the change version, every ward's counters and every care home's
/// record at one instant.
///
/// KEYS: change version, wards index, care-homes index, discharges index.
/// ARGV: key prefix.
/// Returns `{version, {ward_1, {field, value, …}, ward_2, …}, {cqc_1,
/// record_1, cqc_2, …}, {discharge_1, record_1, …}}`.
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
local discharges_out = {}
local discharges = redis.call('SMEMBERS', KEYS[4])
table.sort(discharges)
for _, id in ipairs(discharges) do
  local record = redis.call('HGET', ARGV[1] .. 'discharge:' .. id, 'record')
  if record then
    table.insert(discharges_out, id)
    table.insert(discharges_out, record)
  end
end
return {redis.call('GET', KEYS[1]) or '0', wards_out, homes_out, discharges_out}
"#;

/// Announces that the state was rebuilt: every reader must take a new
/// snapshot. KEYS: change version, change log. ARGV: max length.
pub const ANNOUNCE_RESET: &str = r#"
local change = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], change .. '-0', 'kind', 'reset')
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
