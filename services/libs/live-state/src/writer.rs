//! The one writer: applies a batch of [`Plan`]s in two round trips, deciding
//! everything in Rust and sending Redis only plain commands.
//!
//! 1. **Read**, under `WATCH` of the change version (and the watermark):
//!    the change version, the watermark, the newest history buckets' starts
//!    the batch touches and, once per entity, its stored version,
//!    contributions and the field its change entry reports as before.
//! 2. **Decide**, event by event in order, exactly as applying them one by
//!    one would: an event not newer than its entity's version changes
//!    nothing; otherwise its previous contributions come off its counters
//!    and its new ones go on (summed over the batch, so each counter field
//!    is written once), its hash, indexes, summaries, place, history and
//!    change entry are written, and the entity's state moves on for the
//!    next event of the same entity.
//! 3. **Write** it all in one `MULTI`/`EXEC`. Any other write of the change
//!    version between the read and the write (another writer, a wipe)
//!    makes `EXEC` do nothing; the batch is then read and decided again.
//!
//! The writer remembers what it wrote of each entity (its version,
//! contributions and reported field) and reads only the entities it does
//! not know, as long as the change version and the generation (raised
//! before a wipe deletes entities) are what its own last transaction left:
//! anything else that wrote in between moved one of them. It forgets
//! everything when they differ, after any error or aborted transaction, on
//! every new connection (a restarted or failed-over Redis), and when it
//! knows more than [`REMEMBERED`] entities.
//!
//! The only script is `lua/close_bucket.lua`, run when an event starts a new
//! history bucket (once per scope per bucket): it reads the scope's
//! figures, which the batch's counter moves have not reached yet, inside the
//! transaction.
//!
//! The connection is the writer's own ([`pf_runtime::redis::connect_once`]):
//! it never reconnects between the `WATCH` and the `EXEC`; after any error
//! it is dropped and the next batch connects again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, FromRedisValue, Script, Value};

use crate::fold::{Contribution, Plan};
use crate::keys::Keys;
use crate::scripts;
use crate::store::{Applied, LiveStateError};

/// How often a batch is decided again when another writer keeps changing
/// the state between the read and the write (each time after a short pause
/// of its own length, so that two writers fall out of step).
const ATTEMPTS: u32 = 20;

/// The most entities the writer remembers (about 250 bytes each): England's
/// beds fit; past it, it forgets them all and reads again.
pub const REMEMBERED: usize = 250_000;

/// Updates folded, not yet sent ([`LiveState::prepare`](crate::LiveState::prepare)).
pub struct PreparedBatch {
    pub(crate) plans: Vec<Plan>,
    pub(crate) watermark: Option<(String, u64)>,
}

impl PreparedBatch {
    /// How many updates it applies.
    pub fn events(&self) -> usize {
        self.plans.len()
    }

    /// Adds a later batch of the same stream after this one: applying the
    /// two as one leaves what applying them one after the other leaves, in
    /// one transaction instead of two.
    pub fn append(&mut self, later: PreparedBatch) {
        self.plans.extend(later.plans);
        if later.watermark.is_some() {
            self.watermark = later.watermark;
        }
    }
}

/// The writer's connection, made on first use.
pub(crate) struct Writer {
    url: String,
    config: AsyncConnectionConfig,
    connection: Option<MultiplexedConnection>,
    close_bucket: Script,
    memory: Option<Memory>,
}

/// What the writer's own last transaction left.
struct Memory {
    /// The change version after it.
    version: u64,
    /// The generation then.
    generation: Option<u64>,
    /// Entities by key.
    entities: HashMap<String, Remembered>,
}

/// An entity as the writer last wrote or read it (its contributions as
/// stored, in JSON).
struct Remembered {
    version: u64,
    /// Its contributions as stored (`contrib`).
    contributions: String,
    previous: Option<String>,
}

impl Writer {
    pub(crate) fn new(url: &str, response_timeout: Duration) -> Self {
        Self {
            url: url.to_owned(),
            config: AsyncConnectionConfig::new()
                .set_response_timeout(Some(response_timeout))
                .set_connection_timeout(Some(Duration::from_secs(5))),
            connection: None,
            close_bucket: Script::new(scripts::CLOSE_BUCKET),
            memory: None,
        }
    }

    /// Applies `batch`; one answer per update, in order. After an error
    /// nothing is known of the batch, and applying it again is safe.
    pub(crate) async fn apply(
        &mut self,
        keys: &Keys,
        batch: &PreparedBatch,
        max_len: u64,
    ) -> Result<Vec<Applied>, LiveStateError> {
        for attempt in 0..ATTEMPTS {
            let connection = match &mut self.connection {
                Some(connection) => connection,
                None => {
                    // A new connection may be to another server, or to one
                    // that restarted: nothing remembered holds.
                    self.memory = None;
                    self.connection
                        .insert(pf_runtime::redis::connect_once(&self.url, &self.config).await?)
                }
            };
            let written = write(
                connection,
                &self.close_bucket,
                &mut self.memory,
                keys,
                batch,
                max_len,
            )
            .await;
            match written {
                Ok(Some(outcomes)) => return Ok(outcomes),
                Ok(None) if self.memory.is_some() => {
                    // What it remembered no longer holds: read everything.
                    self.memory = None;
                }
                Ok(None) => {
                    tracing::debug!(
                        attempt,
                        "the live state changed while a batch was decided; deciding again"
                    );
                    tokio::time::sleep(pause(attempt)).await;
                }
                Err(err) => {
                    // The connection may hold a WATCH, or be broken.
                    self.connection = None;
                    self.memory = None;
                    return Err(err);
                }
            }
        }
        Err(LiveStateError::Unexpected(format!(
            "another writer changed the live state during each of {ATTEMPTS} attempts to apply a batch"
        )))
    }
}

/// A pause before attempt `attempt + 1`: up to `attempt` ms, its length
/// taken from the clock's nanoseconds (enough to put two writers out of
/// step; nothing depends on it being random).
fn pause(attempt: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    Duration::from_micros(u64::from(nanos % 1000) * u64::from(attempt + 1))
}

/// An entity as stored, and as the batch leaves it event by event.
struct Entity<'p> {
    version: u64,
    contributions: Contributions<'p>,
    /// The contributions as stored (`contrib`; empty when none).
    stored: String,
    /// The field its change entry reports as before (a bed's counter).
    previous: Option<String>,
}

/// An entity's contributions, one per counter of its plans.
enum Contributions<'p> {
    /// As read or remembered.
    Stored(Vec<Contribution>),
    /// Those of the batch's last event of the entity (not copied).
    Planned(&'p [(String, Contribution)]),
}

impl Contributions<'_> {
    /// What it contributes to its `i`th counter.
    fn get(&self, i: usize) -> Option<&Contribution> {
        match self {
            Self::Stored(contributions) => contributions.get(i),
            Self::Planned(counters) => counters.get(i).map(|(_, c)| c),
        }
    }
}

/// Counter moves summed over the batch: key → field → amount, keys and
/// fields in the order first touched.
#[derive(Default)]
struct Moves {
    keys: Vec<(String, Vec<(String, i64)>)>,
    index: HashMap<String, usize>,
}

impl Moves {
    /// `key`'s moves so far, to add to (one look-up for all its fields).
    fn counter(&mut self, key: &str) -> &mut Vec<(String, i64)> {
        let at = match self.index.get(key) {
            Some(at) => *at,
            None => {
                self.keys.push((key.to_owned(), Vec::new()));
                self.index.insert(key.to_owned(), self.keys.len() - 1);
                self.keys.len() - 1
            }
        };
        &mut self.keys[at].1
    }

    /// Moves `field` of a counter's `fields` by `n`.
    fn add(fields: &mut Vec<(String, i64)>, field: &str, n: i64) {
        match fields.iter_mut().find(|(f, _)| f == field) {
            Some((_, amount)) => *amount += n,
            None => fields.push((field.to_owned(), n)),
        }
    }

    /// The amount `key`'s `field` has moved so far in the batch.
    fn so_far(&self, key: &str, field: &str) -> i64 {
        self.index
            .get(key)
            .and_then(|at| self.keys[*at].1.iter().find(|(f, _)| f == field))
            .map_or(0, |(_, n)| *n)
    }
}

/// Command `name` sized up front for `args` more arguments and `bytes`
/// more bytes besides `fields` (growing a command one argument at a time
/// showed in the profile).
fn sized(name: &str, args: usize, bytes: usize, fields: &[(&'static str, String)]) -> Cmd {
    let mut command = Cmd::with_capacity(
        1 + args + 2 * fields.len(),
        name.len() + bytes + fields.iter().map(|(f, v)| f.len() + v.len()).sum::<usize>(),
    );
    command.arg(name);
    command
}

fn parse<T: FromRedisValue>(value: Option<Value>, what: &str) -> Result<T, LiveStateError> {
    let value = value.ok_or_else(|| LiveStateError::Unexpected(format!("no answer for {what}")))?;
    Ok(T::from_redis_value(value)?)
}

fn contributions(json: Option<&str>) -> Result<Vec<Contribution>, LiveStateError> {
    match json {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(json)
            .map_err(|e| LiveStateError::Unexpected(format!("stored contributions: {e}"))),
    }
}

/// One attempt: `None` when the state changed between the read and the
/// write (nothing was written).
async fn write(
    connection: &mut MultiplexedConnection,
    close_bucket: &Script,
    memory: &mut Option<Memory>,
    keys: &Keys,
    batch: &PreparedBatch,
    max_len: u64,
) -> Result<Option<Vec<Applied>>, LiveStateError> {
    let plans = &batch.plans;
    let version_key = keys.version();
    let generation_key = keys.generation();
    let watermark = batch
        .watermark
        .as_ref()
        .map(|(stream, sequence)| (keys.applied(stream), *sequence));

    // What the batch reads: each entity once, each newest-bucket field once.
    let mut entity_at: HashMap<&str, usize> = HashMap::new();
    let mut distinct: Vec<&str> = Vec::new();
    let mut entity_reads: Vec<(usize, &str)> = Vec::new();
    let mut newest_fields: Vec<&str> = Vec::new();
    let mut newest_seen: HashSet<&str> = HashSet::new();
    for plan in plans {
        if !entity_at.contains_key(plan.entity.as_str()) {
            entity_at.insert(&plan.entity, distinct.len());
            let remembered = memory
                .as_ref()
                .is_some_and(|m| m.entities.contains_key(&plan.entity));
            if !remembered {
                let previous = plan.previous.map_or("version", |(_, field)| field);
                entity_reads.push((distinct.len(), previous));
            }
            distinct.push(&plan.entity);
        }
        if let Some(history) = &plan.history {
            for scope in &history.scopes {
                if newest_seen.insert(&scope.newest_field) {
                    newest_fields.push(&scope.newest_field);
                }
            }
        }
    }

    let mut read = redis::pipe();
    let mut watch = redis::cmd("WATCH");
    watch.arg(&version_key).arg(&generation_key);
    if let Some((key, _)) = &watermark {
        watch.arg(key);
    }
    read.add_command(watch).ignore();
    read.get(&version_key);
    read.get(&generation_key);
    if let Some((key, _)) = &watermark {
        read.get(key);
    }
    if !newest_fields.is_empty() {
        // Loaded now so that the transaction can run it (a restarted or
        // flushed Redis has forgotten it).
        read.load_script(close_bucket).ignore();
        read.cmd("HMGET")
            .arg(keys.trend_newest())
            .arg(&newest_fields);
    }
    for (at, previous) in &entity_reads {
        read.cmd("HMGET")
            .arg(distinct[*at])
            .arg("version")
            .arg("contrib")
            .arg(previous);
    }
    let answers: Vec<Value> = read.query_async(connection).await?;
    let mut answers = answers.into_iter();
    let mut change: u64 = parse::<Option<u64>>(answers.next(), "the change version")?.unwrap_or(0);
    let stored_change = change;
    let generation: Option<u64> = parse(answers.next(), "the generation")?;
    if memory
        .as_ref()
        .is_some_and(|m| m.version != stored_change || m.generation != generation)
    {
        // Someone else wrote since this writer's last transaction.
        return Ok(None);
    }
    let stored_watermark: Option<u64> = match &watermark {
        Some(_) => parse(answers.next(), "the watermark")?,
        None => None,
    };
    let mut newest: HashMap<&str, Option<i64>> = HashMap::new();
    if !newest_fields.is_empty() {
        let starts: Vec<Option<i64>> = parse(answers.next(), "the newest buckets")?;
        newest.extend(newest_fields.iter().copied().zip(starts));
    }
    let mut read_back: HashMap<usize, Remembered> = HashMap::with_capacity(entity_reads.len());
    for (at, _) in &entity_reads {
        let (version, contrib, previous): (Option<u64>, Option<String>, Option<String>) =
            parse(answers.next(), distinct[*at])?;
        read_back.insert(
            *at,
            Remembered {
                version: version.unwrap_or(0),
                contributions: contrib.unwrap_or_default(),
                previous,
            },
        );
    }
    let mut entities = Vec::with_capacity(distinct.len());
    for (at, key) in distinct.iter().enumerate() {
        let known = match read_back.remove(&at) {
            Some(known) => known,
            // Taken out: the transaction puts it back as it leaves it, and
            // anything else forgets the memory.
            None => memory
                .as_mut()
                .and_then(|m| m.entities.remove(*key))
                .ok_or_else(|| {
                    LiveStateError::Unexpected(format!("{key} neither read nor remembered"))
                })?,
        };
        entities.push(Entity {
            version: known.version,
            contributions: Contributions::Stored(contributions(
                Some(known.contributions.as_str()).filter(|json| !json.is_empty()),
            )?),
            stored: known.contributions,
            previous: known.previous,
        });
    }

    // Decide, event by event.
    // Sized up front: growing the pipeline and its commands one push at a
    // time showed in the profile.
    let mut write = redis::Pipeline::with_capacity(plans.len() * 3 + 16);
    write.atomic();
    let changes_key = keys.changes();
    let patient_changes_key = keys.patient_changes();
    let mut outcomes = Vec::with_capacity(plans.len());
    let mut moves = Moves::default();
    let mut members: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut member_seen: HashSet<(&str, &str)> = HashSet::new();
    let mut started: BTreeMap<&str, i64> = BTreeMap::new();
    let mut settings = None;
    let mut notices = false;
    for plan in plans {
        let entity = &mut entities[entity_at[plan.entity.as_str()]];
        if plan.entity_version <= entity.version {
            outcomes.push(Applied::Stale);
            continue;
        }
        let now: Vec<&Contribution> = plan.counters.iter().map(|(_, c)| c).collect();
        let contrib_json = serde_json::to_string(&now)
            .map_err(|e| LiveStateError::Unexpected(format!("contributions: {e}")))?;

        // The counters: the previous contributions off, the new ones on.
        for (i, (key, contribution)) in plan.counters.iter().enumerate() {
            let fields = moves.counter(key);
            for (field, n) in entity.contributions.get(i).into_iter().flatten() {
                Moves::add(fields, field, -n);
            }
            for (field, n) in contribution {
                Moves::add(fields, field, *n);
            }
        }

        // The entity's own hash.
        let mut hset = sized(
            "HSET",
            5,
            plan.entity.len() + contrib_json.len() + 32,
            &plan.fields,
        );
        hset.arg(&plan.entity)
            .arg("version")
            .arg(plan.entity_version)
            .arg("contrib")
            .arg(&contrib_json);
        for (field, value) in &plan.fields {
            hset.arg(*field).arg(value);
        }
        write.add_command(hset).ignore();

        // Indexes and summaries beside it.
        for (set, member) in &plan.sets {
            if member_seen.insert((set, member)) {
                match members.iter_mut().find(|(s, _)| s == set) {
                    Some((_, list)) => list.push(member),
                    None => members.push((set, vec![member])),
                }
            }
        }
        for (hash, field, value) in &plan.puts {
            write.hset(hash, field, value).ignore();
        }
        for (hash, field) in &plan.removes {
            write.hdel(hash, field).ignore();
        }
        if let Some((set, longitude, latitude, member)) = &plan.geo {
            write
                .cmd("GEOADD")
                .arg(set)
                .arg(*longitude)
                .arg(*latitude)
                .arg(member)
                .ignore();
        }

        // The history of the figures the event moved: when it starts a
        // later bucket than a scope's newest, the newest is closed with the
        // figures before this event (see `trend`).
        if let Some(history) = &plan.history {
            let size = i64::try_from(history.settings.bucket_secs()).unwrap_or(i64::MAX);
            let keep = i64::try_from(history.settings.keep_secs()).unwrap_or(i64::MAX);
            let event_bucket = (history.at_ms / 1000).div_euclid(size) * size;
            for scope in &history.scopes {
                let i = plan
                    .counters
                    .iter()
                    .position(|(key, _)| *key == scope.figures)
                    .ok_or_else(|| {
                        LiveStateError::Unexpected(format!(
                            "history of {} that is not a counter",
                            scope.figures
                        ))
                    })?;
                let figure = |c: Option<&Contribution>, field: &str| {
                    c.and_then(|c| c.get(field)).copied().unwrap_or(0)
                };
                let (was, is) = (entity.contributions.get(i), Some(&plan.counters[i].1));
                let d_occupied =
                    figure(is, crate::fold::OCCUPIED) - figure(was, crate::fold::OCCUPIED);
                let d_usable = figure(is, crate::fold::USABLE) - figure(was, crate::fold::USABLE);
                if d_occupied == 0 && d_usable == 0 {
                    continue;
                }
                let at = newest.get(scope.newest_field.as_str()).copied().flatten();
                if at.is_some_and(|at| at >= event_bucket) {
                    continue;
                }
                if let Some(at) = at {
                    let occupied = moves.so_far(&scope.figures, crate::fold::OCCUPIED) - d_occupied;
                    let usable = moves.so_far(&scope.figures, crate::fold::USABLE) - d_usable;
                    write
                        .invoke_script(
                            close_bucket
                                .key(&scope.history)
                                .key(&scope.figures)
                                .arg(at)
                                .arg(occupied)
                                .arg(usable)
                                .arg(event_bucket - keep),
                        )
                        .ignore();
                }
                newest.insert(&scope.newest_field, Some(event_bucket));
                started.insert(&scope.newest_field, event_bucket);
                settings = Some(history.settings);
            }
        }

        // The change entry (counts only) and, for patient-level entities,
        // the notice with the same change version.
        change += 1;
        let id = format!("{change}-0");
        // Two more for the field reporting the value before.
        let mut entry = sized("XADD", 4, changes_key.len() + id.len() + 32, &plan.change);
        entry.arg(&changes_key).arg(&id);
        for (field, value) in &plan.change {
            entry.arg(*field).arg(value);
        }
        if let Some((entry_field, _)) = plan.previous {
            entry
                .arg(entry_field)
                .arg(entity.previous.as_deref().unwrap_or(""));
        }
        write.add_command(entry).ignore();
        if let Some(notice) = &plan.notice {
            let mut xadd = redis::cmd("XADD");
            xadd.arg(&patient_changes_key).arg(&id);
            for (field, value) in notice {
                xadd.arg(*field).arg(value);
            }
            write.add_command(xadd).ignore();
            notices = true;
        }

        // What the next event of this entity finds.
        entity.version = plan.entity_version;
        entity.contributions = Contributions::Planned(&plan.counters);
        entity.stored = contrib_json;
        if let Some((_, field)) = plan.previous
            && let Some((_, value)) = plan.fields.iter().find(|(f, _)| *f == field)
        {
            entity.previous = Some(value.clone());
        }
        outcomes.push(Applied::Changed(change));
    }

    for (set, list) in &members {
        write.sadd(*set, list).ignore();
    }
    // Every field moved, also by a net 0, so that the same fields exist as
    // after applying the events one by one.
    for (key, fields) in &moves.keys {
        for (field, n) in fields {
            write.hincr(key, field, *n).ignore();
        }
    }
    if !started.is_empty() {
        let fields: Vec<(&str, i64)> = started.into_iter().collect();
        write.hset_multiple(keys.trend_newest(), &fields).ignore();
        if let Some(settings) = settings {
            write
                .hset_multiple(
                    keys.trend_meta(),
                    &[
                        ("bucket_secs", settings.bucket_secs()),
                        ("keep_secs", settings.keep_secs()),
                    ],
                )
                .ignore();
        }
    }
    if change > stored_change {
        write.set(&version_key, change).ignore();
        write
            .cmd("XTRIM")
            .arg(&changes_key)
            .arg("MAXLEN")
            .arg("~")
            .arg(max_len)
            .ignore();
        if notices {
            write
                .cmd("XTRIM")
                .arg(&patient_changes_key)
                .arg("MAXLEN")
                .arg("~")
                .arg(max_len)
                .ignore();
        }
    }
    if let Some((key, sequence)) = &watermark
        && stored_watermark.is_none_or(|stored| *sequence > stored)
    {
        // Only ever moves forward (a redelivered old batch leaves it alone).
        write.set(key, *sequence).ignore();
    }
    let done: Option<Vec<Value>> = write.query_async(connection).await?;
    if done.is_none() {
        return Ok(None);
    }
    // Remember what this transaction left.
    let kept = memory.get_or_insert_with(|| Memory {
        version: change,
        generation,
        entities: HashMap::new(),
    });
    kept.version = change;
    kept.generation = generation;
    if kept.entities.len() + distinct.len() > REMEMBERED {
        kept.entities.clear();
    }
    for (key, entity) in distinct.iter().zip(entities) {
        kept.entities.insert(
            (*key).to_owned(),
            Remembered {
                version: entity.version,
                contributions: entity.stored,
                previous: entity.previous,
            },
        );
    }
    Ok(Some(outcomes))
}
