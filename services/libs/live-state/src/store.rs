//! [`LiveState`]: typed access to the live state in Redis.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pf_runtime::RedisConnection;
use redis::aio::ConnectionManagerConfig;
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use redis::{AsyncCommands, Script, Value};

use crate::change::{BedUpdate, Change, PatientNotice, Snapshot, Update};
use crate::counter::{CounterField, Counters};
use crate::discharge_counts::DischargeSummary;
use crate::fold;
use crate::keys::Keys;
use crate::scripts;
use crate::trend::{SYSTEM_SCOPE, TrendHistory, TrendPoint, TrendSettings};
use crate::writer::{PreparedBatch, Writer};

/// Redis could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LiveStateError {
    /// A Redis command failed (connection lost, timeout, server error).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A Redis answer did not have the expected type.
    #[error("redis answered in an unexpected form: {0}")]
    Parse(#[from] redis::ParsingError),
    /// Redis answered something this crate did not write.
    #[error("unexpected data in redis: {0}")]
    Unexpected(String),
}

/// The key layout this crate writes: 3 since every entity's hash keeps its
/// contributions (`contrib`; a bed's counter as `counter`), the occupancy
/// history's figures have hashes of their own (`figures:*`), sites an index
/// (`index:sites`), and the care-home and discharge totals are gone; 2 since
/// discharge records moved under the patient prefix and care homes' holds
/// lost the patient's details (in layout 1 both were under the live prefix,
/// beside the counts). State in an older layout must be rebuilt.
pub const LAYOUT: u64 = 3;

/// What happened to one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied; the change log entry has this change version.
    Changed(u64),
    /// Not newer than the stored entity version: nothing changed.
    Stale,
}

/// The comparable content of one copy of the state: every bed and counter
/// hash and the wards index, by key without the prefix (keys under the
/// patient prefix as `patient:` and the rest). Counters at zero
/// are left out (a counter that went up and down again equals one never
/// touched). The occupancy history (`trend:*`) is left out too: it records
/// when changes were applied relative to each other, and a replay beside the
/// running consumers (the watchdog's) may put one change into a neighbouring
/// bucket while leaving the state itself equal; compare it with
/// [`LiveState::trend_history`] where the order of application is known.
pub type StateDigest = BTreeMap<String, String>;

/// One bed's stored record, as [`LiveState::beds`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveBed {
    /// The version of the bed's newest applied event.
    pub version: u64,
    /// Whether the bed is in the bed base.
    pub open: bool,
    /// Its state while open.
    pub state: Option<pf_hospital_model::BedState>,
    /// When its newest event happened (Unix milliseconds).
    pub occurred_at_ms: i64,
}

/// The live state under one key prefix.
#[derive(Clone)]
pub struct LiveState {
    connection: RedisConnection,
    keys: Keys,
    /// The one writer, shared by clones (each stream's consumer of a
    /// projection): its own connection, made on first use.
    writer: Arc<tokio::sync::Mutex<Writer>>,
    snapshot: Script,
    announce_reset: Script,
    read_trends: Script,
    changes_max_len: u64,
    trends: TrendSettings,
}

impl LiveState {
    /// Connects to Redis at `url` (`redis://127.0.0.1:6379`, or the
    /// `redis+sentinel://` form: see [`pf_runtime::redis`]), keys under
    /// `keys`. The connection reconnects by itself; `response_timeout`
    /// bounds one command (a large pipeline needs more than the 500 ms
    /// default).
    pub async fn connect(
        url: &str,
        keys: Keys,
        response_timeout: Duration,
    ) -> Result<Self, LiveStateError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(response_timeout))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let connection = RedisConnection::connect(url, config).await?;
        Ok(Self {
            connection,
            keys,
            writer: Arc::new(tokio::sync::Mutex::new(Writer::new(url, response_timeout))),
            snapshot: Script::new(scripts::SNAPSHOT),
            announce_reset: Script::new(scripts::ANNOUNCE_RESET),
            read_trends: Script::new(scripts::READ_TRENDS),
            changes_max_len: 100_000,
            trends: TrendSettings::default(),
        })
    }

    /// Buckets and keeps occupancy history as `settings` say (default 5
    /// minutes, 8 days). Only the writer's settings matter: readers use the
    /// bucket length stored beside the history.
    pub fn with_trends(mut self, settings: TrendSettings) -> Self {
        self.trends = settings;
        self
    }

    /// Keeps about `max_len` entries in the change log (default 100,000).
    pub fn with_changes_max_len(mut self, max_len: u64) -> Self {
        self.changes_max_len = max_len;
        self
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Answers `PONG` when Redis is reachable.
    pub async fn ping(&mut self) -> Result<(), LiveStateError> {
        let _: String = redis::cmd("PING").query_async(&mut self.connection).await?;
        Ok(())
    }

    /// Applies bed updates in order, in one round trip. Each is atomic and
    /// idempotent on its own; after a failure none of the answers is known,
    /// and applying the same updates again is safe.
    pub async fn apply_beds(
        &mut self,
        updates: &[BedUpdate],
    ) -> Result<Vec<Applied>, LiveStateError> {
        self.apply_beds_through(updates, None).await
    }

    /// Applies bed updates like [`apply_beds`](Self::apply_beds) and, in the
    /// same round trip, records that `stream` is applied up to `sequence`.
    pub async fn apply_beds_through(
        &mut self,
        updates: &[BedUpdate],
        watermark: Option<(&str, u64)>,
    ) -> Result<Vec<Applied>, LiveStateError> {
        let updates: Vec<Update> = updates.iter().cloned().map(Update::Bed).collect();
        self.apply_through(&updates, watermark).await
    }

    /// Applies updates of any kind in order, in one round trip, and, in the
    /// same round trip, records that `stream` is applied up to `sequence`
    /// (the watermark that shows whether Redis lost state the projection had
    /// already acknowledged). The batch is atomic and each update idempotent;
    /// after a failure none of the answers is known, and applying the same
    /// updates again is safe.
    pub async fn apply_through(
        &mut self,
        updates: &[Update],
        watermark: Option<(&str, u64)>,
    ) -> Result<Vec<Applied>, LiveStateError> {
        match self.prepare(updates, watermark)? {
            Some(batch) => self.apply_prepared(&batch).await,
            None => Ok(Vec::new()),
        }
    }

    /// Folds what [`apply_through`](Self::apply_through) writes, without
    /// sending it: the CPU half of applying, which a consumer can do for the
    /// next batch while Redis runs this one. `None` when there is nothing to
    /// send.
    pub fn prepare(
        &self,
        updates: &[Update],
        watermark: Option<(&str, u64)>,
    ) -> Result<Option<PreparedBatch>, LiveStateError> {
        if updates.is_empty() && watermark.is_none() {
            return Ok(None);
        }
        let plans = updates
            .iter()
            .map(|update| fold::fold(update, &self.keys, self.trends))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(PreparedBatch {
            plans,
            watermark: watermark.map(|(stream, sequence)| (stream.to_owned(), sequence)),
        }))
    }

    /// Applies a batch [`prepare`](Self::prepare)d: two round trips (see
    /// [`writer`](crate::writer)), one answer per update, in order. The
    /// batch is atomic; applying the same batch again is safe.
    pub async fn apply_prepared(
        &mut self,
        batch: &PreparedBatch,
    ) -> Result<Vec<Applied>, LiveStateError> {
        self.writer
            .lock()
            .await
            .apply(&self.keys, batch, self.changes_max_len)
            .await
    }

    /// Care homes within `radius_km` of a place, nearest first, with their
    /// distance in km.
    pub async fn care_homes_near(
        &mut self,
        longitude: f64,
        latitude: f64,
        radius_km: f64,
    ) -> Result<Vec<(String, f64)>, LiveStateError> {
        Ok(redis::cmd("GEOSEARCH")
            .arg(self.keys.care_homes_geo())
            .arg("FROMLONLAT")
            .arg(longitude)
            .arg(latitude)
            .arg("BYRADIUS")
            .arg(radius_km)
            .arg("km")
            .arg("ASC")
            .arg("WITHDIST")
            .query_async(&mut self.connection)
            .await?)
    }

    /// Every care home's record.
    pub async fn all_care_homes(
        &mut self,
    ) -> Result<Vec<pf_care_home_model::CareHomeRecord>, LiveStateError> {
        let ids: Vec<String> = self
            .connection
            .smembers(self.keys.care_homes_index())
            .await?;
        self.care_homes(&ids).await
    }

    /// Every discharge's record (patient prefix: only a reader allowed
    /// patient-level data may call this).
    pub async fn all_discharges(
        &mut self,
    ) -> Result<Vec<pf_discharge_model::DischargeRecord>, LiveStateError> {
        let ids: Vec<String> = self
            .connection
            .smembers(self.keys.discharges_index())
            .await?;
        if ids.is_empty() {
            // An empty pipeline is an error in Redis: nothing to read.
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hget(self.keys.discharge(id), "record");
        }
        let records: Vec<Option<String>> = pipe.query_async(&mut self.connection).await?;
        records
            .into_iter()
            .flatten()
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| LiveStateError::Unexpected(format!("discharge record: {e}")))
            })
            .collect()
    }

    /// Every task's and action's record.
    pub async fn all_items(&mut self) -> Result<Vec<pf_task_model::Item>, LiveStateError> {
        let ids: Vec<String> = self.connection.smembers(self.keys.items_index()).await?;
        if ids.is_empty() {
            // An empty pipeline is an error in Redis: nothing to read.
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hget(self.keys.item(id), "record");
        }
        let records: Vec<Option<String>> = pipe.query_async(&mut self.connection).await?;
        records
            .into_iter()
            .flatten()
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| LiveStateError::Unexpected(format!("item record: {e}")))
            })
            .collect()
    }

    /// What the counts know of one discharge (its status, pathway and
    /// managing organisation; nothing that identifies the patient).
    pub async fn discharge_summary(
        &mut self,
        id: &str,
    ) -> Result<Option<DischargeSummary>, LiveStateError> {
        let summary: Option<String> = self
            .connection
            .hget(self.keys.discharge_summaries(), id)
            .await?;
        summary.as_deref().map(parse_summary).transpose()
    }

    /// One organisation's team register (empty when it has none).
    pub async fn team_register(
        &mut self,
        ods: &str,
    ) -> Result<pf_task_model::TeamRegister, LiveStateError> {
        let record: Option<String> = self.connection.hget(self.keys.teams(ods), "record").await?;
        match record {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| LiveStateError::Unexpected(format!("team register: {e}"))),
            None => Ok(pf_task_model::TeamRegister {
                organisation: ods.to_owned(),
                teams: Vec::new(),
            }),
        }
    }

    /// The records of the given care homes (absent ones left out).
    pub async fn care_homes(
        &mut self,
        ids: &[String],
    ) -> Result<Vec<pf_care_home_model::CareHomeRecord>, LiveStateError> {
        if ids.is_empty() {
            // An empty pipeline is an error in Redis: nothing to read.
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hget(self.keys.care_home(id), "record");
        }
        let records: Vec<Option<String>> = pipe.query_async(&mut self.connection).await?;
        let records = records
            .into_iter()
            .flatten()
            .map(|json| parse_record(&json))
            .collect::<Result<Vec<_>, _>>()?;
        // A retired home is off the register: no reader matches or shows it.
        Ok(records.into_iter().filter(|r| !r.is_retired()).collect())
    }

    /// One discharge's record, if any event of it was applied (patient
    /// prefix).
    pub async fn discharge(
        &mut self,
        id: &str,
    ) -> Result<Option<pf_discharge_model::DischargeRecord>, LiveStateError> {
        let record: Option<String> = self
            .connection
            .hget(self.keys.discharge(id), "record")
            .await?;
        record
            .as_deref()
            .map(|json| {
                serde_json::from_str(json)
                    .map_err(|e| LiveStateError::Unexpected(format!("discharge record: {e}")))
            })
            .transpose()
    }

    /// What the ED and ambulance figures are worked out from (see
    /// [`urgent_care::figures`](crate::urgent_care::figures)), read
    /// atomically: attendances in the department, vehicles waiting, the
    /// handover counters of `today` (a UK date) and the ambulance services'
    /// escalation levels.
    pub async fn urgent_care(
        &mut self,
        today: time::Date,
    ) -> Result<crate::UrgentCareState, LiveStateError> {
        type Texts = BTreeMap<String, String>;
        let (ed, waiting, day, escalations): (Texts, Texts, BTreeMap<String, i64>, Texts) =
            redis::pipe()
                .atomic()
                .hgetall(self.keys.ed_in_department())
                .hgetall(self.keys.ambulances_waiting())
                .hgetall(self.keys.ambulance_day(today))
                .hgetall(self.keys.ambulance_escalations())
                .query_async(&mut self.connection)
                .await?;
        let mut state = crate::UrgentCareState::default();
        let split = |member: &str| {
            member
                .split_once('|')
                .map(|(site, id)| (site.to_owned(), id.to_owned()))
                .ok_or_else(|| LiveStateError::Unexpected(format!("urgent-care member `{member}`")))
        };
        for (member, summary) in ed {
            let (site, id) = split(&member)?;
            let summary = serde_json::from_str(&summary)
                .map_err(|e| LiveStateError::Unexpected(format!("ED summary: {e}")))?;
            state.ed.entry(site).or_default().insert(id, summary);
        }
        for (member, summary) in waiting {
            let (site, id) = split(&member)?;
            let summary = serde_json::from_str(&summary)
                .map_err(|e| LiveStateError::Unexpected(format!("ambulance summary: {e}")))?;
            state.waiting.entry(site).or_default().insert(id, summary);
        }
        for (service, summary) in escalations {
            let summary = serde_json::from_str(&summary)
                .map_err(|e| LiveStateError::Unexpected(format!("escalation summary: {e}")))?;
            state.escalations.insert(service, summary);
        }
        for (field, n) in day {
            if let Some((site, counter)) = field.split_once(':') {
                state
                    .today
                    .entry(site.to_owned())
                    .or_default()
                    .insert(counter.to_owned(), n);
            }
        }
        Ok(state)
    }

    /// Every ward's counters, every care home's record, every discharge's
    /// summary and the change version, read atomically. Reads nothing under
    /// the patient prefix.
    pub async fn snapshot(&mut self) -> Result<Snapshot, LiveStateError> {
        // EVALSHA_RO: a read-only script, so a reader with read-only access
        // to the live state (the gateway's Redis user) may run it.
        let mut command = redis::cmd("EVALSHA_RO");
        command
            .arg(self.snapshot.get_hash())
            .arg(4)
            .arg(self.keys.version())
            .arg(self.keys.wards_index())
            .arg(self.keys.care_homes_index())
            .arg(self.keys.discharge_summaries())
            .arg(self.keys.ward_prefix())
            .arg(self.keys.care_home_prefix());
        let reply = read_with_script(&mut self.connection, scripts::SNAPSHOT, &command).await?;
        let mut items = reply.into_iter();
        let (Some(version), Some(wards), Some(homes), Some(discharges)) =
            (items.next(), items.next(), items.next(), items.next())
        else {
            return Err(LiveStateError::Unexpected("short snapshot".into()));
        };
        let mut snapshot = Snapshot {
            version: redis::from_redis_value::<u64>(version)?,
            ..Snapshot::default()
        };
        let wards: Vec<Value> = redis::from_redis_value(wards)?;
        let mut wards = wards.into_iter();
        while let (Some(name), Some(fields)) = (wards.next(), wards.next()) {
            let name: String = redis::from_redis_value(name)?;
            let fields: BTreeMap<String, i64> = redis::from_redis_value(fields)?;
            let counters = fields
                .into_iter()
                .map(|(field, beds)| Ok((parse_counter(&field)?, beds)))
                .collect::<Result<Counters, LiveStateError>>()?;
            let (site, ward) = name
                .split_once(':')
                .ok_or_else(|| LiveStateError::Unexpected(format!("ward index entry `{name}`")))?;
            snapshot
                .wards
                .insert((site.to_owned(), ward.to_owned()), counters);
        }
        let homes: Vec<String> = redis::from_redis_value(homes)?;
        for pair in homes.chunks_exact(2) {
            let record = parse_record(&pair[1])?;
            // A retired home is off the register: the wall leaves it out.
            if !record.is_retired() {
                snapshot.care_homes.insert(pair[0].clone(), record);
            }
        }
        let discharges: Vec<String> = redis::from_redis_value(discharges)?;
        for pair in discharges.chunks_exact(2) {
            snapshot
                .discharges
                .insert(pair[0].clone(), parse_summary(&pair[1])?);
        }
        Ok(snapshot)
    }

    /// Occupancy history of every site that has wards and of the system, in
    /// one atomic read, for each window `(start, end)` (Unix seconds): the
    /// newest point at or before the start (the value carried into the
    /// window) and every point after it up to the end. Scopes without any
    /// history are left out.
    pub async fn trend_history(
        &mut self,
        windows: &[(i64, i64)],
    ) -> Result<TrendHistory, LiveStateError> {
        let mut command = redis::cmd("EVALSHA_RO");
        command
            .arg(self.read_trends.get_hash())
            .arg(5)
            .arg(self.keys.sites_index())
            .arg(self.keys.trend_meta())
            .arg(self.keys.trend_newest())
            .arg(self.keys.figures_system())
            .arg(self.keys.trend_system())
            .arg(self.keys.figures_site_prefix())
            .arg(self.keys.trend_site_prefix())
            .arg(Keys::TREND_NEWEST_SITE)
            .arg(Keys::TREND_NEWEST_SYSTEM);
        for (start, end) in windows {
            command.arg(start).arg(end);
        }
        let reply = read_with_script(&mut self.connection, scripts::READ_TRENDS, &command).await?;
        let mut items = reply.into_iter();
        let (Some(bucket_secs), Some(scopes)) = (items.next(), items.next()) else {
            return Err(LiveStateError::Unexpected("short occupancy history".into()));
        };
        let mut history = TrendHistory {
            bucket_secs: redis::from_redis_value::<Option<u64>>(bucket_secs)?,
            ..TrendHistory::default()
        };
        let scopes: Vec<Value> = redis::from_redis_value(scopes)?;
        let mut scopes = scopes.into_iter();
        while let (Some(scope), Some(members)) = (scopes.next(), scopes.next()) {
            let scope: String = redis::from_redis_value(scope)?;
            let members: Vec<String> = redis::from_redis_value(members)?;
            let mut points = members
                .iter()
                .map(|m| {
                    TrendPoint::parse(m).ok_or_else(|| {
                        LiveStateError::Unexpected(format!(
                            "occupancy history entry `{m}` of {scope}"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            points.sort();
            points.dedup_by_key(|p| p.at);
            history.scopes.insert(scope, points);
        }
        Ok(history)
    }

    /// Every point of the occupancy history of every scope (for tests and
    /// comparisons; readers ask for windows with
    /// [`trend_history`](Self::trend_history)).
    pub async fn whole_trend_history(&mut self) -> Result<TrendHistory, LiveStateError> {
        self.trend_history(&[(i64::MIN / 2, i64::MAX / 2)]).await
    }

    /// The key a scope's history is kept under (`system` or a site code).
    pub fn trend_key(&self, scope: &str) -> String {
        if scope == SYSTEM_SCOPE {
            self.keys.trend_system()
        } else {
            self.keys.trend_site(scope)
        }
    }

    /// One care home's record, if any event of it was applied.
    pub async fn care_home(
        &mut self,
        cqc: &str,
    ) -> Result<Option<pf_care_home_model::CareHomeRecord>, LiveStateError> {
        let record: Option<String> = self
            .connection
            .hget(self.keys.care_home(cqc), "record")
            .await?;
        record.as_deref().map(parse_record).transpose()
    }

    /// The stored records of `beds` (site, ward, bed), in order, in one
    /// round trip (`None`: the bed has no event applied yet). Reads only
    /// the bed hashes under the live prefix.
    pub async fn beds(
        &mut self,
        beds: &[(&str, &str, &str)],
    ) -> Result<Vec<Option<LiveBed>>, LiveStateError> {
        if beds.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (site, ward, bed) in beds {
            pipe.cmd("HMGET").arg(self.keys.bed(site, ward, bed)).arg(&[
                "version",
                "open",
                "state",
                "occurred_at",
            ]);
        }
        /// version, open, state, occurred_at.
        type Row = (Option<u64>, Option<String>, Option<String>, Option<i64>);
        let rows: Vec<Row> = pipe.query_async(&mut self.connection).await?;
        rows.into_iter()
            .map(|(version, open, state, occurred_at)| {
                let Some(version) = version else {
                    return Ok(None);
                };
                let state =
                    match state.as_deref() {
                        None | Some("") => None,
                        Some(name) => Some(name.parse().map_err(|_| {
                            LiveStateError::Unexpected(format!("bed state `{name}`"))
                        })?),
                    };
                Ok(Some(LiveBed {
                    version,
                    open: open.as_deref() == Some("1"),
                    state,
                    occurred_at_ms: occurred_at.unwrap_or_default(),
                }))
            })
            .collect()
    }

    /// The stream sequence up to which `stream` is applied (`None`: nothing
    /// applied, or the state was lost).
    pub async fn applied_through(&mut self, stream: &str) -> Result<Option<u64>, LiveStateError> {
        Ok(self.connection.get(self.keys.applied(stream)).await?)
    }

    /// Sets the mark `name` (a key beside the watermarks, left out of
    /// digests and kept by a wipe) to `value`, expiring after `ttl`, and
    /// returns its previous value in the same step. A mark that is gone or
    /// older than what was last written, before it expires, shows that Redis
    /// lost writes it had acknowledged (it restarted empty or from an old file).
    pub async fn swap_mark(
        &mut self,
        name: &str,
        value: u64,
        ttl: Duration,
    ) -> Result<Option<u64>, LiveStateError> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        Ok(redis::cmd("SET")
            .arg(self.keys.applied(&format!("mark:{name}")))
            .arg(value)
            .arg("PX")
            .arg(millis)
            .arg("GET")
            .query_async(&mut self.connection)
            .await?)
    }

    /// Tells readers to take a new snapshot (a reset change), without
    /// touching the state; returns the new change version.
    pub async fn announce_reset(&mut self) -> Result<u64, LiveStateError> {
        Ok(self
            .announce_reset
            .key(self.keys.version())
            .key(self.keys.changes())
            .key(self.keys.patient_changes())
            .arg(self.changes_max_len)
            .invoke_async(&mut self.connection)
            .await?)
    }

    /// Whether the state is in an older key layout than [`LAYOUT`] (it has
    /// changes but no layout mark, or an older one): it must be rebuilt,
    /// which also deletes what the old layout left under the live prefix.
    pub async fn layout_is_old(&mut self) -> Result<bool, LiveStateError> {
        let layout: Option<u64> = self.connection.get(self.keys.layout()).await?;
        Ok(match layout {
            Some(layout) => layout < LAYOUT,
            None => self.version().await? > 0,
        })
    }

    /// Records that the state is in [`LAYOUT`] (after a rebuild, or on an
    /// empty state).
    pub async fn mark_layout(&mut self) -> Result<(), LiveStateError> {
        let _: () = self.connection.set(self.keys.layout(), LAYOUT).await?;
        Ok(())
    }

    /// The change version now.
    pub async fn version(&mut self) -> Result<u64, LiveStateError> {
        let version: Option<u64> = self.connection.get(self.keys.version()).await?;
        Ok(version.unwrap_or(0))
    }

    /// Up to `count` changes after `version`, oldest first. With `block`,
    /// waits that long for at least one when there are none yet (use a
    /// connection of its own for blocking reads).
    pub async fn changes_after(
        &mut self,
        version: u64,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Change>, LiveStateError> {
        let entries = match block {
            Some(block) => {
                let reply: Option<StreamReadReply> = redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(count)
                    .arg("BLOCK")
                    .arg(block.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(self.keys.changes())
                    .arg(format!("{version}-0"))
                    .query_async(&mut self.connection)
                    .await?;
                reply
                    .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                    .unwrap_or_default()
            }
            None => {
                let reply: StreamRangeReply = redis::cmd("XRANGE")
                    .arg(self.keys.changes())
                    .arg(format!("{}-0", version + 1))
                    .arg("+")
                    .arg("COUNT")
                    .arg(count)
                    .query_async(&mut self.connection)
                    .await?;
                reply.ids
            }
        };
        entries.iter().map(parse_change).collect()
    }

    /// Up to `count` of the discharge views' notices after change
    /// `version`, oldest first (patient prefix: only a reader allowed
    /// patient-level data may call this). Versions without a notice (a bed
    /// changed) are skipped.
    pub async fn patient_notices_after(
        &mut self,
        version: u64,
        count: usize,
    ) -> Result<Vec<PatientNotice>, LiveStateError> {
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.keys.patient_changes())
            .arg(format!("{}-0", version + 1))
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.connection)
            .await?;
        reply.ids.iter().map(parse_notice).collect()
    }

    /// Deletes every bed, counter, record and index under both prefixes (the
    /// change version and logs stay, so versions keep rising), marks the
    /// state as in [`LAYOUT`] and announces a reset, so that readers take a
    /// new snapshot. Used before a rebuild.
    pub async fn wipe(&mut self) -> Result<u64, LiveStateError> {
        // First, so that a writer remembering entities reads them again.
        let _: u64 = self.connection.incr(self.keys.generation(), 1).await?;
        let keep = [
            self.keys.version(),
            self.keys.generation(),
            self.keys.changes(),
            self.keys.patient_changes(),
        ];
        // Marks (see `swap_mark`) stay too: a rebuild is not a loss.
        let marks = self.keys.applied("mark:");
        let keys: Vec<String> = self.state_keys().await?;
        for chunk in keys
            .iter()
            .filter(|k| !keep.contains(k) && !k.starts_with(&marks))
            .collect::<Vec<_>>()
            .chunks(500)
        {
            let _: () = self.connection.del(chunk.to_vec()).await?;
        }
        // Empty, the state is in this crate's layout.
        self.mark_layout().await?;
        let version: u64 = self
            .announce_reset
            .key(self.keys.version())
            .key(self.keys.changes())
            .key(self.keys.patient_changes())
            .arg(self.changes_max_len)
            .invoke_async(&mut self.connection)
            .await?;
        Ok(version)
    }

    /// Deletes everything under both prefixes, change version and logs
    /// included (for scratch copies; never the live state).
    pub async fn delete_all(&mut self) -> Result<(), LiveStateError> {
        let _: u64 = self.connection.incr(self.keys.generation(), 1).await?;
        let keys = self.state_keys().await?;
        for chunk in keys.chunks(500) {
            let _: () = self.connection.del(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// The comparable content of this copy of the state.
    pub async fn digest(&mut self) -> Result<StateDigest, LiveStateError> {
        let keep_out = [
            self.keys.version(),
            self.keys.generation(),
            self.keys.changes(),
            self.keys.patient_changes(),
            self.keys.layout(),
        ];
        let watermarks = self.keys.applied("");
        let mut digest = StateDigest::new();
        for key in self.state_keys().await? {
            if keep_out.contains(&key) || key.starts_with(&watermarks) {
                continue;
            }
            let name = self.name_of(&key);
            if name.starts_with("trend:") {
                continue;
            }
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut self.connection)
                .await?;
            let rendered = match kind.as_str() {
                "hash" => {
                    let fields: BTreeMap<String, String> = self.connection.hgetall(&key).await?;
                    let counters = !name.starts_with("bed:")
                        && !name.starts_with("care-home:")
                        && !name.starts_with("patient:discharge:")
                        && name != "discharges:summary";
                    fields
                        .into_iter()
                        .filter(|(_, v)| !(counters && v == "0"))
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                }
                "set" => {
                    let mut members: Vec<String> = self.connection.smembers(&key).await?;
                    members.sort();
                    members.join(",")
                }
                "zset" => {
                    let members: Vec<(String, String)> = redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES")
                        .query_async(&mut self.connection)
                        .await?;
                    members
                        .into_iter()
                        .map(|(m, score)| format!("{m}@{score}"))
                        .collect::<Vec<_>>()
                        .join(",")
                }
                other => format!("<{other}>"),
            };
            if !rendered.is_empty() {
                digest.insert(name, rendered);
            }
        }
        Ok(digest)
    }

    /// A key's name in a digest: without its prefix, `patient:` before the
    /// names under the patient prefix (the longer prefix wins when one lies
    /// under the other).
    fn name_of(&self, key: &str) -> String {
        let live = self.keys.prefix();
        let patient = self.keys.patient_prefix();
        let in_patient = key.starts_with(patient);
        let in_live = key.starts_with(live);
        if in_patient && (!in_live || patient.len() > live.len()) {
            format!("patient:{}", &key[patient.len()..])
        } else {
            key.get(live.len()..).unwrap_or(key).to_owned()
        }
    }

    /// Every key under either prefix.
    async fn state_keys(&mut self) -> Result<Vec<String>, LiveStateError> {
        let mut keys = Vec::new();
        for prefix in [
            self.keys.prefix().to_owned(),
            self.keys.patient_prefix().to_owned(),
        ] {
            let pattern = format!("{prefix}*");
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut self.connection)
                    .await?;
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

/// Lists how two digests differ, one line a difference.
pub fn differences(expected: &StateDigest, actual: &StateDigest) -> Vec<String> {
    let mut lines = Vec::new();
    for (key, value) in expected {
        match actual.get(key) {
            None => lines.push(format!("missing {key} (expected {value})")),
            Some(other) if other != value => {
                lines.push(format!("{key}: expected {value}, found {other}"))
            }
            Some(_) => {}
        }
    }
    for (key, value) in actual {
        if !expected.contains_key(key) {
            lines.push(format!("unexpected {key} = {value}"));
        }
    }
    lines
}

/// The change version of a stream entry (its id, `{version}-0`).
fn stream_version(entry: &StreamId) -> Result<u64, LiveStateError> {
    entry
        .id
        .split_once('-')
        .and_then(|(v, _)| v.parse::<u64>().ok())
        .ok_or_else(|| LiveStateError::Unexpected(format!("change id `{}`", entry.id)))
}

fn parse_change(entry: &StreamId) -> Result<Change, LiveStateError> {
    let version = stream_version(entry)?;
    let text = |field: &str| entry.get::<String>(field).unwrap_or_default();
    match text("kind").as_str() {
        "reset" => Ok(Change::Reset { version }),
        "bed" => {
            let optional = |v: String| {
                if v.is_empty() {
                    Ok(None)
                } else {
                    parse_counter(&v).map(Some)
                }
            };
            Ok(Change::Bed {
                version,
                site: text("site"),
                ward: text("ward"),
                bed: text("bed"),
                from: optional(text("from"))?,
                to: optional(text("to"))?,
                occurred_at_ms: text("at").parse().unwrap_or(0),
            })
        }
        "care_home" => Ok(Change::CareHome {
            version,
            record: Box::new(parse_record(&text("record"))?),
            event_type: text("event_type"),
            occurred_at_ms: text("at").parse().unwrap_or(0),
        }),
        "discharge" => Ok(Change::Discharge {
            version,
            id: text("id"),
            summary: parse_summary(&text("summary"))?,
            event_type: text("event_type"),
            occurred_at_ms: text("at").parse().unwrap_or(0),
        }),
        kind @ ("item" | "teams") => Ok(Change::Task {
            version,
            kind: kind.to_owned(),
            id: text("id"),
            event_type: text("event_type"),
            occurred_at_ms: text("at").parse().unwrap_or(0),
        }),
        "urgent_care" => Ok(Change::UrgentCare {
            version,
            site: text("site"),
            event_type: text("event_type"),
            occurred_at_ms: text("at").parse().unwrap_or(0),
        }),
        other => Err(LiveStateError::Unexpected(format!(
            "change {version} of unknown kind `{other}`"
        ))),
    }
}

fn parse_notice(entry: &StreamId) -> Result<PatientNotice, LiveStateError> {
    let version = stream_version(entry)?;
    let text = |field: &str| entry.get::<String>(field).unwrap_or_default();
    match text("kind").as_str() {
        "reset" => Ok(PatientNotice::Reset { version }),
        "discharge" => Ok(PatientNotice::Discharge {
            version,
            id: text("id"),
            entity_version: text("version").parse().unwrap_or(0),
            managed_by: text("managed_by"),
            event_type: text("event_type"),
            occurred_at_ms: text("at").parse().unwrap_or(0),
        }),
        other => Err(LiveStateError::Unexpected(format!(
            "notice {version} of unknown kind `{other}`"
        ))),
    }
}

fn parse_counter(field: &str) -> Result<CounterField, LiveStateError> {
    CounterField::parse(field).map_err(|e| LiveStateError::Unexpected(e.to_string()))
}

fn parse_summary(json: &str) -> Result<DischargeSummary, LiveStateError> {
    serde_json::from_str(json)
        .map_err(|e| LiveStateError::Unexpected(format!("discharge summary: {e}")))
}

fn parse_record(json: &str) -> Result<pf_care_home_model::CareHomeRecord, LiveStateError> {
    serde_json::from_str(json)
        .map_err(|e| LiveStateError::Unexpected(format!("care-home record: {e}")))
}

/// Runs a read-only script call (`EVALSHA_RO`: a reader may not be allowed
/// to run writing scripts, nor `EVAL`); when Redis does not have the script
/// (after a restart), loads `source` and runs the call again.
async fn read_with_script(
    connection: &mut RedisConnection,
    source: &str,
    command: &redis::Cmd,
) -> Result<Vec<Value>, redis::RedisError> {
    match command.query_async(connection).await {
        Err(err) if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            let _: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(source)
                .query_async(connection)
                .await?;
            command.query_async(connection).await
        }
        other => other,
    }
}
