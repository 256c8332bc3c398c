-- Reads the change version, every ward's counters, every care home's
-- record and every discharge's summary at one instant (read-only, nothing
-- under the patient prefix: a reader without access to it runs this).
--
-- KEYS: change version, wards index, care-homes index, discharge summaries.
-- ARGV: the prefix of a ward's counters' key (followed by a wards-index
-- member), the prefix of a care home's key (followed by its id); both from
-- pf_live_state::Keys.
-- Returns {version, {ward_1, {field, value, ...}, ward_2, ...}, {cqc_1,
-- record_1, cqc_2, ...}, {discharge_1, summary_1, ...}}.
local wards_out = {}
local wards = redis.call('SMEMBERS', KEYS[2])
table.sort(wards)
for _, ward in ipairs(wards) do
  table.insert(wards_out, ward)
  table.insert(wards_out, redis.call('HGETALL', ARGV[1] .. ward))
end
local homes_out = {}
local homes = redis.call('SMEMBERS', KEYS[3])
table.sort(homes)
for _, home in ipairs(homes) do
  local record = redis.call('HGET', ARGV[2] .. home, 'record')
  if record then
    table.insert(homes_out, home)
    table.insert(homes_out, record)
  end
end
return {redis.call('GET', KEYS[1]) or '0', wards_out, homes_out, redis.call('HGETALL', KEYS[4])}
