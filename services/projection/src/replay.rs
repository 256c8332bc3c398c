//! Rebuilding the live state by replaying the streams from their start.

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt as _;
use pf_event_log::StreamSpec;
use pf_event_log::streams::EVENT_STREAMS;
use pf_live_state::{Applied, LiveState, PreparedBatch};

use crate::event;

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Events read from the streams.
    pub events: u64,
    /// Events that changed the state.
    pub applied: u64,
    /// Events skipped as not newer than what was already applied.
    pub stale: u64,
    /// Events that cannot be used (they were dead-lettered when first consumed).
    pub unusable: u64,
}

/// Wipes the live state under `live`'s prefix, then replays every event
/// stream from its first event up to its last at the time of the call.
/// Readers are told to take a new snapshot (a reset change).
pub async fn rebuild(
    jetstream: &jetstream::Context,
    live: &mut LiveState,
    batch_size: usize,
) -> anyhow::Result<ReplayReport> {
    live.wipe().await.context("failed to wipe the live state")?;
    replay(jetstream, live, batch_size).await
}

/// Replays every event stream into `live` (without wiping it first).
pub async fn replay(
    jetstream: &jetstream::Context,
    live: &mut LiveState,
    batch_size: usize,
) -> anyhow::Result<ReplayReport> {
    let mut report = ReplayReport::default();
    for spec in EVENT_STREAMS {
        let one = replay_stream(jetstream, spec, live, batch_size).await?;
        report.events += one.events;
        report.applied += one.applied;
        report.stale += one.stale;
        report.unusable += one.unusable;
    }
    Ok(report)
}

/// Events a replay applies at a time for the consumer's `batch_size`: as
/// many as the consumer takes at once when it is behind
/// ([`consumer::MERGED_BATCHES`](crate::consumer::MERGED_BATCHES) batches),
/// since a replay always reads a backlog (it waits for that many, or the
/// stream's end).
fn replay_batch(batch_size: usize) -> usize {
    batch_size
        .saturating_mul(crate::consumer::MERGED_BATCHES)
        .max(1)
}

/// Replays one stream into `live`, from its first event to its last at the
/// time of the call.
///
/// In two stages, as the consumer does: this task reads, decodes and folds
/// a replay batch while the one before it is written to Redis by a task of
/// its own (batches are applied strictly in order; one waits at most).
pub async fn replay_stream(
    jetstream: &jetstream::Context,
    spec: &'static StreamSpec,
    live: &mut LiveState,
    batch_size: usize,
) -> anyhow::Result<ReplayReport> {
    let mut stream = jetstream
        .get_stream(spec.name)
        .await
        .with_context(|| format!("failed to open stream {}", spec.name))?;
    let last = stream
        .info()
        .await
        .context("failed to read the stream's state")?
        .state
        .last_sequence;
    if last == 0 {
        return Ok(ReplayReport::default());
    }
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .context("failed to create a replay consumer")?;
    let messages = consumer
        .messages()
        .await
        .context("failed to start the replay")?
        .ready_chunks(batch_size.max(1));
    let (prepared_tx, prepared_rx) = tokio::sync::mpsc::channel(1);
    let applying = tokio::spawn(apply_in_order(live.clone(), prepared_rx));
    let read = read_stream(spec, live, messages, last, batch_size, prepared_tx).await;
    // The writing stage ends once the reading stage has dropped its sender:
    // after the last batch, or after an error (what was queued is applied
    // first, so nothing writes once this returns).
    let applied = applying
        .await
        .context("the replay's writing stage stopped")?;
    let (events, unusable) = read?;
    let (applied, stale) = applied?;
    Ok(ReplayReport {
        events,
        applied,
        stale,
        unusable,
    })
}

/// The replay's first stage: reads the stream up to `last`, decodes and
/// folds a replay batch at a time and hands it on. Returns the events read
/// and those that cannot be used.
async fn read_stream<S>(
    spec: &'static StreamSpec,
    live: &LiveState,
    mut messages: S,
    last: u64,
    batch_size: usize,
    prepared: tokio::sync::mpsc::Sender<PreparedBatch>,
) -> anyhow::Result<(u64, u64)>
where
    S: futures::Stream<
            Item = Vec<Result<jetstream::Message, jetstream::consumer::pull::OrderedError>>,
        > + Unpin,
{
    let (mut events, mut unusable) = (0, 0);
    // Events read since the last batch handed on: folded together once there
    // are a replay batch's worth, or at the end.
    let target = replay_batch(batch_size);
    let mut updates = Vec::with_capacity(target);
    let mut read = 0;
    let mut through = 0;
    while let Some(batch) = messages.next().await {
        let mut reached_end = false;
        for message in batch {
            let message = message.context("replay interrupted")?;
            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            if sequence > last {
                reached_end = true;
                break;
            }
            events += 1;
            read += 1;
            through = sequence;
            let stored_at_ms = event::stored_at_ms(&message);
            match event::decode(
                spec,
                message.subject.as_str(),
                &message.payload,
                stored_at_ms,
            ) {
                Ok(update) => updates.push(update),
                Err(_) => unusable += 1,
            }
            if sequence == last {
                reached_end = true;
                break;
            }
        }
        if read < target && !reached_end {
            continue;
        }
        read = 0;
        if !hand_on(spec, live, &mut updates, through, &prepared).await? || reached_end {
            break;
        }
    }
    // A stream that ended before its last event: what it gave is applied.
    if read > 0 {
        hand_on(spec, live, &mut updates, through, &prepared).await?;
    }
    Ok((events, unusable))
}

/// Folds `updates` (read through stream sequence `through`) and hands them
/// to the writing stage, emptying them. `false` when that stage stopped
/// on an error (which it returns).
async fn hand_on(
    spec: &'static StreamSpec,
    live: &LiveState,
    updates: &mut Vec<pf_live_state::Update>,
    through: u64,
    prepared: &tokio::sync::mpsc::Sender<PreparedBatch>,
) -> anyhow::Result<bool> {
    let batch = live
        .prepare(updates, Some((spec.name, through)))
        .context("failed to fold replayed events")?;
    updates.clear();
    Ok(match batch {
        Some(batch) => prepared.send(batch).await.is_ok(),
        None => true,
    })
}

/// The replay's second stage: applies each folded batch in order. Returns
/// the events applied and those skipped as stale.
async fn apply_in_order(
    mut live: LiveState,
    mut prepared: tokio::sync::mpsc::Receiver<PreparedBatch>,
) -> anyhow::Result<(u64, u64)> {
    let (mut applied, mut stale) = (0, 0);
    while let Some(batch) = prepared.recv().await {
        let outcomes = live
            .apply_prepared(&batch)
            .await
            .context("failed to apply replayed events")?;
        for outcome in outcomes {
            match outcome {
                Applied::Changed(_) => applied += 1,
                Applied::Stale => stale += 1,
            }
        }
    }
    Ok((applied, stale))
}

/// What a consistency check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The replay into the scratch copy.
    pub replay: ReplayReport,
    /// Keys compared.
    pub keys: usize,
    /// Every difference, one line each; empty when the live state matches.
    pub differences: Vec<String>,
}

/// Replays the streams into `scratch` (an empty prefix of its own, deleted
/// afterwards) and compares it with `live`. Run it while nothing is being
/// published, or differences may only mean the live state moved on.
pub async fn check(
    jetstream: &jetstream::Context,
    live: &mut LiveState,
    scratch: &mut LiveState,
    batch_size: usize,
) -> anyhow::Result<CheckReport> {
    for scratch_prefix in [scratch.keys().prefix(), scratch.keys().patient_prefix()] {
        for live_prefix in [live.keys().prefix(), live.keys().patient_prefix()] {
            anyhow::ensure!(
                !scratch_prefix.starts_with(live_prefix)
                    && !live_prefix.starts_with(scratch_prefix),
                "the scratch prefix {scratch_prefix} must not lie under the live prefix {live_prefix} nor above it"
            );
        }
    }
    scratch
        .delete_all()
        .await
        .context("failed to clear the scratch copy")?;
    let replayed = replay(jetstream, scratch, batch_size).await;
    let compared = match &replayed {
        Ok(_) => Some((scratch.digest().await, live.digest().await)),
        Err(_) => None,
    };
    scratch
        .delete_all()
        .await
        .context("failed to delete the scratch copy")?;
    let replay = replayed?;
    let (expected, actual) = compared.unwrap_or((Ok(Default::default()), Ok(Default::default())));
    let (expected, actual) = (expected?, actual?);
    Ok(CheckReport {
        replay,
        keys: expected.len(),
        differences: pf_live_state::differences(&expected, &actual),
    })
}
